"""What every component shares: the base of its typed `*Args`.

Components follow Pulumi's convention, `Component(name, args, opts)`: `args` is one typed,
validated object, so a bad argument fails when the Args is built, naming the class and field,
before anything registers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
from pydantic import ConfigDict

from gitops_sdk.core.base import FluxModel
from gitops_sdk.core.errors import expect_items

__all__ = ["ComponentArgs", "expect_depends_on"]


class ComponentArgs(FluxModel):
    """Base of a component's Args: keyword-only, strict, frozen, unknown fields refused. Fields
    may hold Pulumi inputs and resources (typed `Any` or by class), which are passed through."""

    model_config = ConfigDict(arbitrary_types_allowed=True)


def expect_depends_on(data: Mapping[str, Any], where: str) -> None:
    """ArgumentError unless an Args' `depends_on` (by either name) is a list of resources: one
    resource given where a list is taken is the common slip."""
    depends_on = data.get("depends_on", data.get("dependsOn", []))
    expect_items(depends_on, pulumi.Resource, f"{where}: depends_on", "Pulumi resources")
