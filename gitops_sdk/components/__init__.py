"""Pulumi components built on the typed APIs. Imports `core`, `api` and `services`."""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["GitSource", "Layers"]

# Loaded on first use: the dynamic provider process imports one module of this folder.
_WHERE = {"GitSource": "gitops_sdk.components.git_source", "Layers": "gitops_sdk.components.layers"}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
