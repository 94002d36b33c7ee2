"""The stack's layer units as Pulumi components: one child component per layer.

Pulumi orders every unit after the units it depends on, whatever their kinds: Flux's own
`dependsOn` stays within a kind, so an edge between a Kustomization and a HelmRelease holds
during `pulumi up` through Pulumi (with `wait`, after the dependency is Ready). A HelmRelease's
target namespace is created first; objects a unit brings the CRDs for wait for it (`ready_for`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pydantic

from gitops_sdk.api.helm import HelmRelease
from gitops_sdk.api.kustomize import Kustomization
from gitops_sdk.components.base import ComponentArgs, expect_depends_on
from gitops_sdk.components.kube_object import KubeObject
from gitops_sdk.components.resource import FluxKey, FluxResource, flux_key
from gitops_sdk.core.errors import ArgumentError, expect, expect_items

__all__ = ["LAYER_LABEL", "Layers", "LayersArgs", "api_group"]

PULUMI_DEPTH = 200
"""The longest chain of units Pulumi orders by itself (see `Layers`)."""

LAYER_LABEL = "gitops-sdk/layer"
"""Label naming the layer on every unit a LayerSet renders."""

UNMANAGED_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
"""Namespaces every cluster has: never created (nor deleted) by a stack."""


def api_group(api_version: str) -> str:
    """The API group of an `apiVersion` ("" for the core group's `v1`)."""
    return api_version.rpartition("/")[0]


class LayersArgs(ComponentArgs):
    """What `Layers` registers."""

    units: list[Kustomization | HelmRelease] = []
    """The units in dependency order, as `LayerSet.build()` returns them."""
    kustomizations: list[Kustomization] = []
    """Kustomization units (the older name of `units`; both may be given)."""
    after: dict[str, list[str]] = {}
    """Per unit name, units of another kind it waits for (`LayerSet.cross`)."""
    provides: dict[str, list[str]] = {}
    """Per unit name, the API groups whose CRDs it installs."""
    manifests: dict[str, list[dict[str, Any]]] = {}
    """Per unit name, objects registered once the unit is Ready."""
    namespaces: list[str] = []
    """Namespaces to create besides the HelmReleases' target namespaces."""
    namespace_labels: dict[str, str] = {}
    """Labels of the namespaces the stack creates."""
    resources: dict[tuple[str, str | None, str], pulumi.Resource] = {}
    """Resources of objects registered elsewhere (the sources), by `flux_key`."""
    depends_on: list[pulumi.Resource] = []
    """Applied to every unit and namespace."""
    wait: bool | None = None
    """Make `pulumi up` wait for each unit to be Ready (so a failing unit names itself and its
    condition message, and what depends on it starts only then)."""

    @pydantic.model_validator(mode="before")
    @classmethod
    def _argument_types(cls, data: Any) -> Any:
        if isinstance(data, dict):
            where = "LayersArgs"
            for key, kinds, what in (
                ("units", (Kustomization, HelmRelease), "Kustomization or HelmRelease models"),
                ("kustomizations", Kustomization, "Kustomization models"),
            ):
                expect_items(data.get(key, []), kinds, f"{where}: {key}", what)
            expect(data.get("resources", {}), Mapping, f"{where}: resources", "a mapping")
            expect_depends_on(data, where)
        return data

    def all_units(self) -> list[Kustomization | HelmRelease]:
        return [*self.kustomizations, *self.units]


class Layers(pulumi.ComponentResource):
    """The stack's layer units, one child component per layer."""

    layers: dict[str, pulumi.ComponentResource]
    kustomizations: dict[str, FluxResource[Any]]
    releases: dict[str, FluxResource[Any]]
    units: dict[str, FluxResource[Any]]
    namespaces: dict[str, KubeObject]
    providers: dict[str, list[pulumi.Resource]]

    def __init__(
        self, name: str, args: LayersArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        expect(args, LayersArgs, f"Layers {name!r}: args", "LayersArgs")
        super().__init__("gitops:layers:Layers", name, None, opts)
        self.layers, self.kustomizations, self.releases, self.units = {}, {}, {}, {}
        self.namespaces, self.providers = {}, {}
        units = args.all_units()
        wanted = [u.spec.target_namespace for u in units if isinstance(u, HelmRelease)]
        for ns in [*wanted, *args.namespaces]:
            self._namespace(name, ns, args)
        made: dict[FluxKey, pulumi.Resource] = {}
        depth: dict[FluxKey, int] = {}
        by_name: dict[str, FluxKey] = {u.name: flux_key(u) for u in units}
        for obj in units:
            keys = [flux_key(t) for t in obj.targets]
            cross = [by_name[n] for n in args.after.get(obj.name, []) if n in by_name]
            # Pulumi orders each unit after those it depends on. Its SDK walks such chains
            # recursively, so links deeper than PULUMI_DEPTH are left to Flux's own dependsOn,
            # which orders them in the cluster either way (only within a kind).
            ordered = {k: made[k] for k in keys if k in made and depth[k] < PULUMI_DEPTH}
            across = [made[k] for k in cross if k in made and depth[k] < PULUMI_DEPTH]
            depth[flux_key(obj)] = 1 + max(
                (depth[k] for k in [*ordered, *cross] if k in depth), default=-1
            )
            deps = [*args.depends_on, *across]
            if isinstance(obj, HelmRelease) and obj.spec.target_namespace in self.namespaces:
                deps.append(self.namespaces[obj.spec.target_namespace])
            res = FluxResource(
                f"{name}-{obj.name}",
                obj,
                pulumi.ResourceOptions(parent=self._layer(name, obj), depends_on=deps),
                resources={**args.resources, **ordered},
                wait=args.wait,
            )
            made[flux_key(obj)] = res
            self.units[obj.name] = res
            (self.releases if isinstance(obj, HelmRelease) else self.kustomizations)[obj.name] = res
            for group in args.provides.get(obj.name, []):
                self.providers.setdefault(group, []).append(res)
        for unit_name, docs in args.manifests.items():
            self._manifests(name, unit_name, docs)
        for component in self.layers.values():
            component.register_outputs({})
        self.register_outputs({"units": sorted(self.units)})

    def _layer(self, name: str, obj: Kustomization | HelmRelease) -> pulumi.ComponentResource:
        layer = (obj.metadata.labels or {}).get(LAYER_LABEL, obj.name)
        if layer not in self.layers:
            self.layers[layer] = pulumi.ComponentResource(
                "gitops:layers:Layer", f"{name}-{layer}", None, pulumi.ResourceOptions(parent=self)
            )
        return self.layers[layer]

    def _namespace(self, name: str, ns: str | None, args: LayersArgs) -> None:
        if ns is None or ns in self.namespaces or ns in UNMANAGED_NAMESPACES:
            return
        meta: dict[str, Any] = {"name": ns}
        if args.namespace_labels:
            meta["labels"] = dict(args.namespace_labels)
        self.namespaces[ns] = KubeObject(
            f"{name}-namespace-{ns}",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": meta},
            pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
        )

    def _manifests(self, name: str, unit_name: str, docs: list[dict[str, Any]]) -> None:
        unit = self.units.get(unit_name)
        if unit is None:
            raise ArgumentError(f"LayersArgs: manifests: {unit_name!r} is not a unit")
        for doc in docs:
            meta = dict(doc["metadata"])
            deps: list[pulumi.Resource] = [unit, *self.ready_for([api_group(doc["apiVersion"])])]
            if ns := meta.get("namespace"):
                deps += self.ready_for(namespaces=[ns])
            k8s.apiextensions.CustomResource(
                f"{name}-{unit_name}-{doc['kind'].lower()}-{meta['name']}",
                api_version=doc["apiVersion"],
                kind=doc["kind"],
                metadata=meta,
                spec=doc.get("spec"),
                opts=pulumi.ResourceOptions(parent=unit, depends_on=deps),
            )

    def ready_for(
        self, groups: Iterable[str] = (), namespaces: Iterable[str] = ()
    ) -> list[pulumi.Resource]:
        """The resources an object must wait for: the units providing its API `groups` and
        the namespaces the stack creates among `namespaces`."""
        out: list[pulumi.Resource] = []
        for group in groups:
            out += self.providers.get(group, [])
        out += [self.namespaces[ns] for ns in namespaces if ns in self.namespaces]
        return list(dict.fromkeys(out))
