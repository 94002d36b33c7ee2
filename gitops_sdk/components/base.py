"""What every component shares: the base of its typed `*Args`.

Components follow Pulumi's convention, `Component(name, args, opts)`: `args` is one typed,
validated object, so a bad argument fails when the Args is built, naming the class and field,
before anything registers.
"""

from __future__ import annotations

from pydantic import ConfigDict

from gitops_sdk.core.base import FluxModel

__all__ = ["ComponentArgs"]


class ComponentArgs(FluxModel):
    """Base of a component's Args: keyword-only, strict, frozen, unknown fields refused. Fields
    may hold Pulumi inputs and resources (typed `Any` or by class), which are passed through."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
