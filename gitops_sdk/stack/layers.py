"""Layers: the cluster as ordered Flux Kustomizations (infrastructure -> monitoring -> apps).

A layer is one Kustomization (`./<layer>`), or a group of units, each its own Kustomization
named `<layer>-<unit>` at `./<layer>/<unit>`. Depending on a layer means depending on all
of its units; the rendered `dependsOn` lists are reduced to the edges that matter (an edge
implied through another dependency is dropped), so the manifests stay readable.

```python
layers = LayerSet(source=repo, defaults={"interval": "10m", "prune": True, "wait": True})
infra = layers.layer("infrastructure")
metallb, certs = infra.unit("metallb"), infra.unit("cert-manager")
traefik = infra.unit("traefik", depends_on=[metallb, certs])
monitoring = layers.layer("monitoring", depends_on=[infra])
layers.layer("apps").unit("demo", path="./apps/demo-app/staging", depends_on=[traefik, monitoring])
kustomizations = layers.build()
```
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import yaml

from gitops_sdk.api.kustomize import Kustomization
from gitops_sdk.components.layers import LAYER_LABEL
from gitops_sdk.core.errors import (
    ConfigError,
    DependencyCycleError,
    SpecError,
    expect,
    expect_items,
)
from gitops_sdk.core.model import FluxObject
from gitops_sdk.core.order import Cycle, dependency_order
from gitops_sdk.stack.config import (
    GitopsConfig,
    LayerConfig,
    Resources,
    Tuning,
    UnitConfig,
    name_collision,
)

__all__ = ["LAYER_LABEL", "Layer", "LayerSet", "Unit"]


class Unit:
    """One Kustomization of a layer; `name` is the Kustomization's name."""

    def __init__(self, layer: Layer, short: str, settings: UnitConfig, depends_on: Sequence[Any]):
        self.layer = layer
        self.short = short
        self.name = f"{layer.name}-{short}" if short else layer.name
        self.settings = settings
        self.depends_on = list(depends_on)

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
        """Add a unit `<layer>-<name>`; settings are UnitConfig fields (path, interval, ...)."""
        where = f"unit {self.name}-{name!s}: depends_on"
        expect_items(depends_on, (Unit, Layer, str), where, "layers, units or their names")
        cfg = _settings(UnitConfig, f"{self.name}-{name}", settings)
        unit = Unit(self, name, cfg, depends_on)
        if name in self.declared:
            raise ConfigError(f"layer {self.name!r}: unit {name!r} is declared twice")
        self.declared.add(name)
        self.units.append(unit)
        return unit

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
    ) -> None:
        """`decryption_secret` is the age key Secret (object or name) for `decryption: true`."""
        expect(defaults, (Mapping, Tuning, type(None)), "LayerSet: defaults", "a mapping")
        expect(labels, (Mapping, type(None)), "LayerSet: labels", "a mapping")
        self.source = source
        self.namespace = namespace
        if isinstance(defaults, Tuning):
            defaults = defaults.model_dump(by_alias=False, exclude_none=True)
        self.defaults = _settings(UnitConfig, "defaults", dict(defaults or {}))
        self.labels = dict(labels or {})
        self.decryption_secret = decryption_secret
        self.layers: list[Layer] = []
        self.disabled: set[str] = set()
        """Layers and `layer/unit`s the stack config turns off, for clearer errors."""
        self._index: tuple[dict[str, Layer], dict[str, dict[str, Unit]]] = ({}, {})

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
        cls, cfg: GitopsConfig, source: FluxObject, *, decryption_secret: Any = None
    ) -> LayerSet:
        """The layers of a stack's `gitops:layers` config."""
        labels = {**cfg.cluster.labels, "environment": cfg.cluster.environment}
        out = cls(
            source,
            namespace=cfg.flux.namespace,
            defaults=cfg.defaults,
            labels=labels,
            decryption_secret=decryption_secret,
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

    def build(self) -> list[Kustomization]:
        """Validate and render the Kustomizations, dependencies before dependents."""
        members = self.units()
        if problem := name_collision((u.layer.name, u.short) for u in members):
            raise ConfigError(problem)
        units = {u.name: u for u in members}
        deps, explicit = self._direct()
        order = _topological(units, deps)
        # What each unit reaches through its dependencies, as a bit per unit (by position in
        # `order`): cheap for thousands of units, where sets of names would be quadratic.
        bit = {name: 1 << i for i, name in enumerate(order)}
        reach: dict[str, int] = {}
        for name in order:
            below = 0
            for d in deps[name]:
                below |= bit[d.name] | reach[d.name]
            reach[name] = below
        built: dict[str, Kustomization] = {}
        for name in order:
            implied = 0
            for d in deps[name]:
                implied |= reach[d.name]
            # Keep what was named; drop a layer member that another dependency already implies
            # (nothing reaches itself, so `implied` holds d only through another dependency).
            direct = [
                d for d in deps[name] if (name, d.name) in explicit or not implied & bit[d.name]
            ]
            built[name] = self._render(units[name], [built[d.name] for d in direct])
        return [built[n] for n in order]

    def _render(self, unit: Unit, depends_on: list[Kustomization]) -> Kustomization:
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
        path = unit.settings.path or (
            f"./{layer.name}/{unit.short}" if unit.short else f"./{layer.name}"
        )
        spec: dict[str, Any] = {
            "interval": merged["interval"],
            "path": path,
            "prune": merged.get("prune", True),
            "source_ref": self.source,
        }
        for key in ("retry_interval", "timeout", "wait", "target_namespace"):
            if key in merged:
                spec[key] = merged[key]
        if depends_on:
            spec["depends_on"] = depends_on
        if merged.get("decryption"):
            if self.decryption_secret is None:
                raise ConfigError(
                    f"unit {unit.name!r}: decryption is on but the stack has no age key Secret"
                )
            spec["decryption"] = {"provider": "sops", "secret_ref": self.decryption_secret}
        if substitute:
            spec["post_build"] = {"substitute": dict(sorted(substitute.items()))}
        images = (
            [*layer.settings.images, *unit.settings.images] if unit.short else layer.settings.images
        )
        if images:
            spec["images"] = [i.model_dump(by_alias=False, exclude_none=True) for i in images]
        patches = _patches(unit.settings.replicas, unit.settings.resources)
        if patches:
            spec["patches"] = patches
        labels = {**self.labels, LAYER_LABEL: layer.name}
        return Kustomization(name=unit.name, namespace=self.namespace, labels=labels, **spec)


def _what(owner: Unit | Layer) -> str:
    return "unit" if isinstance(owner, Unit) else "layer"


def _named(dep: Unit | Layer | str) -> str:
    return repr(dep if isinstance(dep, str) else dep.name)


def _topological(units: Mapping[str, Unit], deps: Mapping[str, Iterable[Unit]]) -> list[str]:
    try:
        return dependency_order(list(units), {n: [d.name for d in ds] for n, ds in deps.items()})
    except Cycle as cycle:
        raise DependencyCycleError("Kustomization", [str(n) for n in cycle.path]) from None


def _patches(
    replicas: Mapping[str, int], resources: Mapping[str, Resources]
) -> list[dict[str, Any]]:
    """Strategic-merge patches for replica counts and container resources, per Deployment."""
    out = []
    for name in sorted(set(replicas) | set(resources)):
        spec: dict[str, Any] = {}
        if name in replicas:
            spec["replicas"] = replicas[name]
        patch: dict[str, Any] = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name},
            "spec": spec,
        }
        if name in resources:
            res = resources[name]
            container = res.container or name
            spec["template"] = {
                "spec": {
                    "containers": [
                        {
                            "name": container,
                            "resources": res.model_dump(
                                exclude_none=True, include={"requests", "limits"}
                            ),
                        }
                    ]
                }
            }
        out.append(
            {
                "patch": yaml.safe_dump(patch, sort_keys=False),
                "target": {"kind": "Deployment", "name": name},
            }
        )
    return out
