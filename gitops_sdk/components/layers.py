"""The stack's layer Kustomizations as Pulumi components: one child component per layer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pydantic

from gitops_sdk.api.kustomize import Kustomization
from gitops_sdk.components.base import ComponentArgs, expect_depends_on
from gitops_sdk.components.resource import FluxKey, FluxResource, flux_key
from gitops_sdk.core.errors import expect, expect_items

__all__ = ["LAYER_LABEL", "Layers", "LayersArgs"]

PULUMI_DEPTH = 200
"""The longest chain of Kustomizations Pulumi orders by itself (see `Layers`)."""

LAYER_LABEL = "gitops-sdk/layer"
"""Label naming the layer on every Kustomization a LayerSet renders."""


class LayersArgs(ComponentArgs):
    """What `Layers` registers."""

    kustomizations: list[Kustomization]
    """The Kustomizations in dependency order, as `LayerSet.build()` returns them."""
    resources: dict[tuple[str, str | None, str], pulumi.Resource] = {}
    """Resources of objects registered elsewhere (the source), by `flux_key`."""
    depends_on: list[pulumi.Resource] = []
    """Applied to every Kustomization."""
    wait: bool | None = None
    """Make `pulumi up` wait for each Kustomization to be Ready (so a failing layer names itself
    and its condition message)."""

    @pydantic.model_validator(mode="before")
    @classmethod
    def _argument_types(cls, data: Any) -> Any:
        if isinstance(data, dict):
            where = "LayersArgs"
            kustomizations = data.get("kustomizations")
            expect_items(
                kustomizations, Kustomization, f"{where}: kustomizations", "Kustomization models"
            )
            expect(data.get("resources", {}), Mapping, f"{where}: resources", "a mapping")
            expect_depends_on(data, where)
        return data


class Layers(pulumi.ComponentResource):
    """The stack's layer Kustomizations, one child component per layer."""

    layers: dict[str, pulumi.ComponentResource]
    kustomizations: dict[str, FluxResource[Any]]

    def __init__(
        self, name: str, args: LayersArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        expect(args, LayersArgs, f"Layers {name!r}: args", "LayersArgs")
        kustomizations, depends_on, wait = args.kustomizations, args.depends_on, args.wait
        super().__init__("gitops:layers:Layers", name, None, opts)
        self.layers = {}
        self.kustomizations = {}
        made: dict[FluxKey, pulumi.Resource] = {}
        depth: dict[FluxKey, int] = {}
        for obj in kustomizations:
            # Pulumi orders each Kustomization after those it depends on. Its SDK walks such
            # chains recursively, so links deeper than PULUMI_DEPTH are left to Flux's own
            # dependsOn, which orders them in the cluster either way.
            ordered = {
                key: made[key]
                for key in map(flux_key, obj.targets)
                if key in made and depth[key] < PULUMI_DEPTH
            }
            depth[flux_key(obj)] = 1 + max((depth[k] for k in ordered), default=-1)
            layer = (obj.metadata.labels or {}).get(LAYER_LABEL, obj.name)
            if layer not in self.layers:
                self.layers[layer] = pulumi.ComponentResource(
                    "gitops:layers:Layer",
                    f"{name}-{layer}",
                    None,
                    pulumi.ResourceOptions(parent=self),
                )
            res = FluxResource(
                f"{name}-{obj.name}",
                obj,
                pulumi.ResourceOptions(parent=self.layers[layer], depends_on=list(depends_on)),
                resources={**args.resources, **ordered},
                wait=wait,
            )
            made[flux_key(obj)] = res
            self.kustomizations[obj.name] = res
        for component in self.layers.values():
            component.register_outputs({})
        self.register_outputs({"kustomizations": sorted(self.kustomizations)})
