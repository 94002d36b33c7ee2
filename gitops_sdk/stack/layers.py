"""Layers: the cluster as ordered Flux units (infrastructure -> monitoring -> apps).

A layer is one unit (`./<layer>`), or a group of units named `<layer>-<unit>`. A unit is a
Kustomization of a path (default `./<layer>/<unit>`) in the cluster's repository or a named
source, or a HelmRelease of a chart (`chart`, `chartRef` or `preset`). Depending on a layer
means depending on all of its units, whatever their kind; the rendered `dependsOn` lists are
reduced to the edges that matter (an edge implied through another dependency is dropped), so the
manifests stay readable.

Flux orders a kind only among itself (`dependsOn` names Kustomizations, or HelmReleases), so
an edge between kinds is kept in `LayerSet.cross` for Pulumi to order (see `Layers`).

```python
layers = LayerSet(source=repo, sources={"jetstack": jetstack},
                  defaults={"interval": "10m", "prune": True, "wait": True})
infra = layers.layer("infrastructure")
certs = infra.helm("cert-manager", source="jetstack", chart="cert-manager", version="v1.21.1",
                   values={"crds": {"enabled": True}})
metallb = infra.unit("metallb", preset="metallb")
traefik = infra.unit("traefik", preset="traefik", depends_on=[metallb, certs])
monitoring = layers.layer("monitoring", depends_on=[infra])
layers.layer("apps").unit("demo", path="./apps/demo-app/staging", depends_on=[traefik, monitoring])
objects = layers.build()  # Kustomizations and HelmReleases, dependencies first
```
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from gitops_sdk.api.helm import HelmRelease
from gitops_sdk.api.kustomize import Kustomization
from gitops_sdk.components.layers import LAYER_LABEL, LayersArgs, api_group
from gitops_sdk.core.errors import (
    ConfigError,
    DependencyCycleError,
    SpecError,
    expect,
    expect_items,
)
from gitops_sdk.core.model import FluxObject
from gitops_sdk.core.order import Cycle, dependency_order
from gitops_sdk.stack.config import GitopsConfig, name_collision
from gitops_sdk.stack.helm_units import provided_groups, render_helm
from gitops_sdk.stack.kustomize_units import render_kustomization
from gitops_sdk.stack.units import LayerConfig, Tuning, UnitConfig

__all__ = ["LAYER_LABEL", "Layer", "LayerSet", "Unit", "UnitObject"]

UnitObject = Kustomization | HelmRelease
"""What a unit renders as."""


class Unit:
    """One Kustomization of a layer; `name` is the Kustomization's name."""

    def __init__(self, layer: Layer, short: str, settings: UnitConfig, depends_on: Sequence[Any]):
        self.layer = layer
        self.short = short
        self.name = f"{layer.name}-{short}" if short else layer.name
        self.settings = settings
        self.depends_on = list(depends_on)

    @property
    def kind(self) -> str:
        return "HelmRelease" if self.settings.is_helm else "Kustomization"

    @property
    def provides(self) -> list[str]:
        """API groups whose CRDs the unit installs."""
        return provided_groups(self.settings)

    def __repr__(self) -> str:
        return f"Unit({self.name!r})"


class Layer:
    """A named group of units with shared settings and dependencies."""

    def __init__(
        self, owner: LayerSet, name: str, settings: LayerConfig, depends_on: Sequence[Any]
    ):
        self.owner = owner
        self.name = name
        self.settings = settings
        self.depends_on = list(depends_on)
        self.units: list[Unit] = []
        self.declared: set[str] = set(settings.units)
        """Every unit name given, enabled or not: a layer whose units are all disabled renders
        nothing (never the whole `./<layer>` folder)."""

    def unit(
        self, name: str, *, depends_on: Sequence[Unit | Layer | str] = (), **settings: Any
    ) -> Unit:
        """Add a unit `<layer>-<name>`; settings are UnitConfig fields (path, interval, ...).
        `source` and `chart_ref` take a source's name or the source object itself."""
        where = f"unit {self.name}-{name!s}: depends_on"
        expect_items(depends_on, (Unit, Layer, str), where, "layers, units or their names")
        for key in ("source", "chart_ref"):
            if isinstance(settings.get(key), FluxObject):
                settings[key] = self.owner.add_source(settings[key])
        cfg = _settings(UnitConfig, f"{self.name}-{name}", settings)
        unit = Unit(self, name, cfg, depends_on)
        if name in self.declared:
            raise ConfigError(f"layer {self.name!r}: unit {name!r} is declared twice")
        self.declared.add(name)
        self.units.append(unit)
        return unit

    def helm(
        self,
        name: str,
        *,
        source: str | FluxObject | None = None,
        chart: str | None = None,
        version: str | None = None,
        values: Mapping[str, Any] | None = None,
        depends_on: Sequence[Unit | Layer | str] = (),
        **settings: Any,
    ) -> Unit:
        """Add a HelmRelease unit: a `chart` at `version` from the Helm repository `source`
        (a name in the LayerSet's `sources`), or `preset=` / `chart_ref=`; other settings are
        UnitConfig fields (target_namespace, values_from, install, upgrade, provides, ...)."""
        given = {"source": source, "chart": chart, "version": version, "values": values}
        settings.update({k: v for k, v in given.items() if v is not None})
        if not ({"chart", "chart_ref", "preset"} & set(settings)):
            raise ConfigError(
                f"unit {self.name}-{name}: helm() needs chart= (with source= and version=), "
                "chart_ref= or preset="
            )
        return self.unit(name, depends_on=depends_on, **settings)

    def members(self) -> list[Unit]:
        """The units of the layer, or the layer itself as a single unit."""
        if not self.declared:
            return [Unit(self, "", self.settings, [])]
        return [u for u in self.units if u.settings.enabled]

    def __repr__(self) -> str:
        return f"Layer({self.name!r})"


def _settings(model: type[UnitConfig], name: str, values: Mapping[str, Any]) -> Any:
    try:
        return model(**values)
    except SpecError as err:
        raise SpecError("Layer", name, err.issues) from None


class LayerSet:
    """Layers rendered as Flux Kustomizations reading one source."""

    def __init__(
        self,
        source: FluxObject,
        *,
        namespace: str = "flux-system",
        defaults: Mapping[str, Any] | Tuning | None = None,
        labels: Mapping[str, str] | None = None,
        decryption_secret: Any = None,
        sources: Mapping[str, FluxObject] | None = None,
        ha: bool = False,
        architectures: Sequence[str] = ("arm64",),
    ) -> None:
        """`decryption_secret` is the age key Secret (object or name) for `decryption: true`;
        `sources` are the named sources units read (`source`, `chart_ref`), by name; `ha` merges
        the presets' high-availability values; presets schedule on `architectures`."""
        expect(defaults, (Mapping, Tuning, type(None)), "LayerSet: defaults", "a mapping")
        expect(labels, (Mapping, type(None)), "LayerSet: labels", "a mapping")
        self.source = source
        self.namespace = namespace
        if isinstance(defaults, Tuning):
            defaults = defaults.model_dump(by_alias=False, exclude_none=True)
        self.defaults = _settings(UnitConfig, "defaults", dict(defaults or {}))
        self.labels = dict(labels or {})
        self.decryption_secret = decryption_secret
        expect(sources, (Mapping, type(None)), "LayerSet: sources", "a mapping of name to source")
        self.sources = dict(sources or {})
        self.ha = ha
        self.architectures = list(architectures)
        self.chart_values: dict[str, dict[str, Any]] = {}
        """Values merged into every HelmRelease unit of a chart (by chart name), under the
        unit's own: what another part of the stack needs the chart to do."""
        self.layers: list[Layer] = []
        self.cross: dict[str, list[str]] = {}
        """After `build()`: each unit's direct dependencies of the other kind, by unit name."""
        self.built: dict[str, Unit] = {}
        """After `build()`: the rendered units by name."""
        self.disabled: set[str] = set()
        """Layers and `layer/unit`s the stack config turns off, for clearer errors."""
        self._index: tuple[dict[str, Layer], dict[str, dict[str, Unit]]] = ({}, {})

    def add_source(self, source: FluxObject) -> str:
        """Make `source` one of the named sources units read; returns its name."""
        known = self.sources.setdefault(source.name, source)
        if known is not source and known.to_manifest() != source.to_manifest():
            raise ConfigError(
                f"source {source.name!r}: another {known.kind} of that name is already a source"
            )
        return source.name

    def layer(
        self, name: str, *, depends_on: Sequence[Layer | Unit | str] = (), **settings: Any
    ) -> Layer:
        """Add a layer; settings are LayerConfig fields (path, interval, units, ...)."""
        if any(layer.name == name for layer in self.layers):
            raise ConfigError(f"layer {name!r} is declared twice")
        where = f"layer {name!r}: depends_on"
        expect_items(depends_on, (Unit, Layer, str), where, "layers, units or their names")
        cfg = _settings(LayerConfig, name, settings)
        layer = Layer(self, name, cfg, depends_on)
        self.layers.append(layer)
        for unit_name, unit_cfg in cfg.units.items():
            if unit_cfg.enabled:
                layer.units.append(Unit(layer, unit_name, unit_cfg, unit_cfg.depends_on))
        return layer

    @classmethod
    def from_config(
        cls,
        cfg: GitopsConfig,
        source: FluxObject,
        *,
        decryption_secret: Any = None,
        sources: Mapping[str, FluxObject] | None = None,
    ) -> LayerSet:
        """The layers of a stack's `gitops:layers` config; `sources` are the Flux objects of
        its `gitops:sources`."""
        labels = {**cfg.cluster.labels, "environment": cfg.cluster.environment}
        out = cls(
            source,
            namespace=cfg.flux.namespace,
            defaults=cfg.defaults,
            labels=labels,
            decryption_secret=decryption_secret,
            sources=sources,
            ha=cfg.cluster.ha,
            architectures=cfg.cluster.architectures,
        )
        for name, layer_cfg in cfg.layers.items():
            out.disabled |= {f"{name}/{u}" for u, c in layer_cfg.units.items() if not c.enabled}
            if not layer_cfg.enabled:
                out.disabled.add(name)
            else:
                values = layer_cfg.model_dump(exclude_unset=True, by_alias=False)
                values["units"] = layer_cfg.units  # keep the validated unit models
                out.layer(name, **values)
        return out

    # --- resolution -------------------------------------------------------------------------

    def _resolve(self, owner: Unit | Layer, dep: Unit | Layer | str) -> list[Unit]:
        found = self._lookup(owner, dep)
        what = _what(owner)
        if any(u.name == owner.name or (what == "layer" and u.layer is owner) for u in found):
            raise ConfigError(
                f"{what} {owner.name!r}: dependsOn {_named(dep)} is the {what} itself"
                if len(found) == 1 or what == "layer"
                else f"unit {owner.name!r}: dependsOn {_named(dep)} is its own layer; name the "
                "units of the layer it needs instead"
            )
        if not found:
            raise ConfigError(
                f"{what} {owner.name!r}: dependsOn {_named(dep)}: every unit of that layer is "
                "disabled in this stack (enabled: false); enable one or drop the dependency"
            )
        return found

    def _lookup(self, owner: Unit | Layer, dep: Unit | Layer | str) -> list[Unit]:
        if isinstance(dep, (Layer, Unit)):
            theirs = dep.owner if isinstance(dep, Layer) else dep.layer.owner
            if theirs is not self:
                raise ConfigError(
                    f"{_what(owner)} {owner.name!r}: dependsOn {_named(dep)} belongs to another "
                    "LayerSet"
                )
        if isinstance(dep, Layer):
            return dep.members()
        if isinstance(dep, Unit):
            return [dep]
        layer = owner.layer if isinstance(owner, Unit) else owner
        by_name, by_short = self._index
        if isinstance(owner, Unit) and (same := by_short[layer.name].get(dep)):
            return [same]
        if dep in by_name:
            return by_name[dep].members()
        lname, _, uname = dep.partition("/")
        if uname and lname in by_name and (found := by_short[lname].get(uname)):
            return [found]
        if dep in self.disabled or (
            isinstance(owner, Unit) and f"{owner.layer.name}/{dep}" in self.disabled
        ):
            raise ConfigError(
                f"{_what(owner)} {owner.name!r}: dependsOn {dep!r} is disabled in this stack "
                "(enabled: false); enable it or drop the dependency"
            )
        known = sorted(
            [lay.name for lay in self.layers]
            + [f"{lay.name}/{u.short}" for lay in self.layers for u in lay.units]
        )
        raise ConfigError(
            f"{_what(owner)} {owner.name!r}: dependsOn "
            f"{dep!r} is not a unit of this layer, a layer, or 'layer/unit'; known: "
            + ", ".join(known)
        )

    def _direct(self) -> tuple[dict[str, list[Unit]], set[tuple[str, str]]]:
        """Each enabled unit's dependencies (layer's and its own) expanded to units, and the
        (unit, dependency) edges that were named explicitly rather than through a layer."""
        self._index = (
            {lay.name: lay for lay in self.layers},
            {lay.name: {u.short: u for u in lay.units} for lay in self.layers},
        )
        deps: dict[str, list[Unit]] = {}
        explicit: set[tuple[str, str]] = set()
        for layer in self.layers:
            # A layer's own dependencies are resolved once, not once per unit.
            shared = [self._resolve(layer, d) for d in layer.depends_on]
            for unit in layer.members():
                seen: dict[str, Unit] = {}
                resolved = shared + [self._resolve(unit, d) for d in unit.depends_on]
                for members in resolved:
                    for u in members:
                        if u.name == unit.name:
                            continue
                        seen.setdefault(u.name, u)
                        if len(members) == 1:
                            explicit.add((unit.name, u.name))
                deps[unit.name] = list(seen.values())
        return deps, explicit

    def units(self) -> list[Unit]:
        """Every enabled unit in declaration order."""
        return [u for layer in self.layers for u in layer.members()]

    def build(self) -> list[UnitObject]:
        """Validate and render the units, dependencies before dependents."""
        members = self.units()
        if problem := name_collision((u.layer.name, u.short) for u in members):
            raise ConfigError(problem)
        units = {u.name: u for u in members}
        deps, explicit = self._direct()
        order = _topological(units, deps)
        # What each unit reaches through its dependencies, as a bit per unit (by position in
        # `order`): cheap for thousands of units, where sets of names would be quadratic.
        bit = {name: 1 << i for i, name in enumerate(order)}
        # Flux follows `dependsOn` only within a kind, so a same-kind edge may be dropped only
        # when a same-kind chain implies it (`flux`); Pulumi sees every edge (`reach`).
        reach: dict[str, int] = {}
        flux: dict[str, int] = {}
        for name in order:
            below = same_kind = 0
            for d in deps[name]:
                below |= bit[d.name] | reach[d.name]
                if d.kind == units[name].kind:
                    same_kind |= bit[d.name] | flux[d.name]
            reach[name], flux[name] = below, same_kind
        built: dict[str, UnitObject] = {}
        self.cross = {}
        self.built = {n: units[n] for n in order}
        for name in order:
            kind = units[name].kind
            implied = implied_same = 0
            for d in deps[name]:
                implied |= reach[d.name]
                if d.kind == kind:
                    implied_same |= flux[d.name]
            # Keep what was named; drop a layer member that another dependency already implies
            # (nothing reaches itself, so `implied` holds d only through another dependency).
            same = [
                built[d.name]
                for d in deps[name]
                if d.kind == kind and ((name, d.name) in explicit or not implied_same & bit[d.name])
            ]
            other = [
                d.name
                for d in deps[name]
                if d.kind != kind and ((name, d.name) in explicit or not implied & bit[d.name])
            ]
            if other:
                self.cross[name] = other
            built[name] = self._render(units[name], same)
        return [built[n] for n in order]

    def layers_args(self, units: Sequence[UnitObject], **args: Any) -> LayersArgs:
        """The `Layers` args for `units` (what `build()` returned): cross-kind edges, provided
        API groups and each unit's manifests; `args` are further LayersArgs fields."""
        objects = {u.name: u for u in units}
        manifests: dict[str, list[dict[str, Any]]] = {}
        for name, unit in self.built.items():
            obj = objects.get(name)
            if not unit.settings.manifests or obj is None:
                continue
            ns = obj.spec.target_namespace
            docs = []
            for doc in unit.settings.manifests:
                meta = dict(doc["metadata"])
                # Kinds named Cluster* are cluster-scoped (ClusterIssuer, ClusterSecretStore).
                if ns and "namespace" not in meta and not doc["kind"].startswith("Cluster"):
                    meta["namespace"] = ns
                docs.append({**doc, "metadata": meta})
            manifests[name] = docs
        return LayersArgs(
            units=list(units),
            after=dict(self.cross),
            provides={n: u.provides for n, u in self.built.items() if u.provides},
            manifests=manifests,
            namespace_labels=self.labels,
            **args,
        )

    def api_groups_used(self) -> dict[str, list[str]]:
        """API group -> the config keys of the unit manifests that use it."""
        out: dict[str, list[str]] = {}
        for unit in self.built.values():
            for doc in unit.settings.manifests:
                key = f"gitops:layers.{unit.layer.name}.units.{unit.short}.manifests"
                out.setdefault(api_group(doc["apiVersion"]), []).append(key)
        return out

    def _render(self, unit: Unit, depends_on: list[Any]) -> UnitObject:
        layer = unit.layer
        merged: dict[str, Any] = {}
        substitute: dict[str, str] = {}
        tuning = set(Tuning.model_fields)  # never the layer's units: once per unit is quadratic
        for source in (self.defaults, layer.settings, unit.settings):
            merged.update(
                source.model_dump(
                    by_alias=False, exclude_unset=True, exclude_none=True, include=tuning
                )
            )
            substitute.update(source.substitute or {})
        if "interval" not in merged:
            raise ConfigError(
                f"unit {unit.name!r}: no interval; set it in the defaults, the layer or the unit"
            )
        if unit.settings.is_helm:
            return self._render_helm(unit, merged, depends_on)
        path = unit.settings.path or (
            f"./{layer.name}/{unit.short}" if unit.short else f"./{layer.name}"
        )
        images = (
            [*layer.settings.images, *unit.settings.images] if unit.short else layer.settings.images
        )
        if merged.get("decryption") and self.decryption_secret is None:
            raise ConfigError(
                f"unit {unit.name!r}: decryption is on but the stack has no age key Secret"
            )
        return render_kustomization(
            unit.name,
            unit.settings,
            merged,
            path=path,
            source_ref=self._source(unit),
            substitute=substitute,
            images=images,
            decryption_secret=self.decryption_secret,
            namespace=self.namespace,
            labels={**self.labels, LAYER_LABEL: layer.name},
            depends_on=depends_on,
        )

    def _source(self, unit: Unit) -> Any:
        name = unit.settings.source or unit.layer.settings.source
        if name is None:
            return self.source
        return self._named_source(unit, name, ("GitRepository", "OCIRepository"))

    def _named_source(self, unit: Unit, name: str, kinds: tuple[str, ...]) -> FluxObject:
        found = self.sources.get(name)
        if found is None:
            known = ", ".join(sorted(self.sources)) or "none"
            raise ConfigError(
                f"unit {unit.name!r}: source {name!r} is not declared; known: {known}"
            )
        if found.kind not in kinds:
            raise ConfigError(
                f"unit {unit.name!r}: source {name!r} is a {found.kind}; this unit needs "
                + " or ".join(f"a {k}" for k in kinds)
            )
        return found

    def _render_helm(
        self, unit: Unit, merged: dict[str, Any], depends_on: list[Any]
    ) -> HelmRelease:
        settings = unit.settings
        preset = settings.preset_data
        explicit = unit.layer.settings.model_fields_set | settings.model_fields_set
        if preset is not None and preset.timeout and "timeout" not in explicit:
            merged = {**merged, "timeout": preset.timeout}
        if settings.chart_ref:
            self._named_source(unit, settings.chart_ref, ("OCIRepository",))
        else:
            name = settings.source or (preset.source.name if preset else None)
            self._named_source(unit, str(name), ("HelmRepository",))
        labels = {**self.labels, LAYER_LABEL: unit.layer.name}
        return render_helm(
            unit.name,
            unit.short or unit.layer.name,
            settings,
            merged,
            namespace=self.namespace,
            labels=labels,
            sources=self.sources,
            ha=self.ha,
            depends_on=depends_on,
            chart_values=self.chart_values,
            architectures=self.architectures,
        )


def _what(owner: Unit | Layer) -> str:
    return "unit" if isinstance(owner, Unit) else "layer"


def _named(dep: Unit | Layer | str) -> str:
    return repr(dep if isinstance(dep, str) else dep.name)


def _topological(units: Mapping[str, Unit], deps: Mapping[str, Iterable[Unit]]) -> list[str]:
    try:
        return dependency_order(list(units), {n: [d.name for d in ds] for n, ds in deps.items()})
    except Cycle as cycle:
        names = [str(n) for n in cycle.path]
        kinds = {units[n].kind for n in names if n in units}
        kind = kinds.pop() if len(kinds) == 1 else "unit"
        if kind == "unit":
            names = [f"{n} ({units[n].kind})" if n in units else n for n in names]
        raise DependencyCycleError(kind, names) from None
