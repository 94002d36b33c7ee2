"""Pulumi components built on the typed APIs. Imports `core`, `api` and `services`."""

from gitops_sdk.components.git_source import GitSource
from gitops_sdk.components.layers import Layers

__all__ = ["GitSource", "Layers"]
