"""Flux objects as Pulumi resources: one `CustomResource` registration per Flux object.

The model is validated and rendered before anything is registered; references to other
Flux objects become Pulumi `depends_on` edges, so Pulumi applies a source before the
Kustomization that reads it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Generic, TypeVar

import pulumi
from pulumi_kubernetes.apiextensions import CustomResource

from ._model import FluxObject, iter_refs

M = TypeVar("M", bound=FluxObject)


def resource_name(obj: FluxObject) -> str:
    """A stable Pulumi name for a Flux object: `<kind>-<namespace>-<name>` in lower case."""
    ns = obj.metadata.namespace or "default"
    return f"{obj.kind.lower()}-{ns}-{obj.metadata.name}"


class FluxResource(CustomResource, Generic[M]):
    """A Flux object registered with Pulumi. `flux_object` is the validated model."""

    flux_object: M

    def __init__(
        self,
        resource_name: str,
        obj: M,
        opts: pulumi.ResourceOptions | None = None,
        *,
        resolve: Mapping[int, pulumi.Resource] | None = None,
    ) -> None:
        """Register `obj`. `resolve` maps `id(model)` of referenced models to their resources,
        for references that were built from models rather than from resources."""
        deps: list[pulumi.Resource] = []
        for ref in iter_refs(obj):
            target = ref.target
            if isinstance(target, pulumi.Resource):
                deps.append(target)
            elif resolve is not None and id(target) in resolve:
                deps.append(resolve[id(target)])
        manifest = obj.to_manifest()
        merged = pulumi.ResourceOptions.merge(pulumi.ResourceOptions(depends_on=deps), opts)
        extra = {k: v for k, v in manifest.items() if k not in ("apiVersion", "kind", "metadata")}
        super().__init__(
            resource_name,
            api_version=manifest["apiVersion"],
            kind=manifest["kind"],
            metadata=manifest["metadata"],
            opts=merged,
            **extra,
        )
        self.flux_object = obj

    def __flux_ref__(self) -> tuple[str, str, str | None]:
        return self.flux_object.__flux_ref__()


def register(
    obj: FluxObject,
    opts: pulumi.ResourceOptions | None = None,
    *,
    name: str | None = None,
    resolve: Mapping[int, pulumi.Resource] | None = None,
) -> FluxResource[Any]:
    """Register one Flux object; the Pulumi name defaults to `resource_name(obj)`."""
    return FluxResource(name or resource_name(obj), obj, opts, resolve=resolve)


def register_all(
    objects: Sequence[FluxObject], opts: pulumi.ResourceOptions | None = None
) -> dict[int, FluxResource[Any]]:
    """Register objects in the given (dependency) order, wiring model references to resources.

    Returns the resources keyed by `id()` of their model.
    """
    made: dict[int, FluxResource[Any]] = {}
    for obj in objects:
        made[id(obj)] = register(obj, opts, resolve=made)
    return made
