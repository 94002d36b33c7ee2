"""Whole-stack checks over a set of Flux objects: references resolve, namespaces obey the
lockdown, `dependsOn` has no cycles; plus a dependency order and a Mermaid picture.

These run on models, before any Pulumi resource is registered.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from typing import NamedTuple

from gitops_sdk.core.errors import CrossReferenceError, DependencyCycleError, expect_items
from gitops_sdk.core.model import FluxObject
from gitops_sdk.core.order import Cycle, dependency_order
from gitops_sdk.core.refs import ObjectRef, refs_with_paths
from gitops_sdk.core.substitution import has_placeholder

__all__ = ["FluxGraph", "Key", "UncheckedRef", "key_of"]


Key = tuple[str, str, str]
"""(kind, namespace, name) of an object."""

# dependsOn edges: Flux waits for these, so a cycle deadlocks reconciliation.
_DEPENDS_ON_KINDS = ("Kustomization", "HelmRelease")
# Values and substitutions must exist or reconciliation fails; check those Secret/ConfigMap refs.
_CHECKED_DATA_REFS = re.compile(r"\.(valuesFrom|substituteFrom)\[")


def key_of(obj: FluxObject, default_namespace: str) -> Key:
    """The (kind, namespace, name) identity of `obj`."""
    return (obj.kind, obj.metadata.namespace or default_namespace, obj.metadata.name)


class UncheckedRef(NamedTuple):
    """A reference `FluxGraph.check` could not check: its target (or, under the namespace
    lockdown, a namespace) holds a Flux substitution placeholder, known only once Flux
    substitutes it."""

    source: Key
    path: str
    target: Key

    def __str__(self) -> str:
        kind, ns, name = self.source
        return (
            f"{kind} {ns}/{name}: {self.path} refers to {self.target[0]} "
            f"{self.target[1]}/{self.target[2]}: not checked, it holds a Flux substitution "
            "placeholder"
        )


def _target_kind(ref: ObjectRef) -> str | None:
    kind = getattr(ref, "kind", None)
    if isinstance(kind, str):
        return kind
    if len(type(ref).expected_kinds) == 1:
        return type(ref).expected_kinds[0]
    return None


class FluxGraph:
    """The Flux objects a stack declares, checked as a whole."""

    def __init__(
        self,
        objects: Sequence[FluxObject],
        *,
        default_namespace: str = "flux-system",
        known: Iterable[Key] = (),
        no_cross_namespace_refs: bool = False,
    ) -> None:
        expect_items(objects, FluxObject, "FluxGraph", "Flux object models")
        self.objects = list(objects)
        self.default_namespace = default_namespace
        self.no_cross_namespace_refs = no_cross_namespace_refs
        self.by_key: dict[Key, FluxObject] = {}
        for obj in self.objects:
            key = key_of(obj, default_namespace)
            if key in self.by_key:
                raise CrossReferenceError(
                    f"{obj.kind} {key[1]}/{key[2]} is declared twice; names must be unique"
                )
            self.by_key[key] = obj
        self.known = set(known) | set(self.by_key)
        self.unchecked: list[UncheckedRef] = []
        """What the last `check()` could not check because of placeholders."""

    def edges(self, obj: FluxObject) -> Iterator[tuple[str, ObjectRef, Key | None]]:
        """(path, ref, target key) for each reference of `obj`; key None when kind is open."""
        own_ns = obj.metadata.namespace or self.default_namespace
        for path, ref in refs_with_paths(obj):
            kind = _target_kind(ref)
            name = ref.name  # type: ignore[attr-defined]
            ns = getattr(ref, "namespace", None) or own_ns
            yield path, ref, (kind, ns, name) if kind else None

    def check(self) -> list[UncheckedRef]:
        """Raise on the first dangling reference, forbidden cross-namespace ref, or cycle.
        References whose target holds a Flux substitution placeholder cannot be resolved before
        Flux substitutes them: they are returned (and kept in `unchecked`) instead."""
        self.unchecked = []
        for obj in self.objects:
            own_ns = obj.metadata.namespace or self.default_namespace
            source = key_of(obj, self.default_namespace)
            for path, ref, key in self.edges(obj):
                where = f"{obj.kind} {obj.metadata.name!r}: {path}"
                ref_ns = getattr(ref, "namespace", None)
                target = key or ("?", ref_ns or own_ns, ref.name)  # type: ignore[attr-defined]
                if self.no_cross_namespace_refs and ref_ns and ref_ns != own_ns:
                    if has_placeholder(ref_ns) or has_placeholder(own_ns):
                        self.unchecked.append(UncheckedRef(source, path, target))
                        continue
                    raise CrossReferenceError(
                        f"{where}.namespace {ref_ns!r}: cross-namespace references are locked "
                        f"down in this stack (flux.noCrossNamespaceRefs); expected {own_ns!r}"
                    )
                if key is None or key[2] == "*" or getattr(ref, "optional", False):
                    continue
                if key[0] in ("Secret", "ConfigMap") and not _CHECKED_DATA_REFS.search(path):
                    continue  # auth Secrets are often made out of band (bootstrap, operators)
                if key not in self.known:
                    if any(has_placeholder(part) for part in key):
                        self.unchecked.append(UncheckedRef(source, path, key))
                        continue
                    candidates = sorted(
                        n for k, ns, n in self.known if k == key[0] and ns == key[1]
                    )
                    hint = f"; declared: {', '.join(candidates)}" if candidates else ""
                    raise CrossReferenceError(
                        f"{where} refers to {key[0]} {key[1]}/{key[2]}, which this stack "
                        f"does not declare{hint}"
                    )
        self._check_cycles()
        return self.unchecked

    def _check_cycles(self) -> None:
        deps: dict[Key, list[Key]] = {}
        for obj in self.objects:
            if obj.kind not in _DEPENDS_ON_KINDS:
                continue
            deps[key_of(obj, self.default_namespace)] = [
                key
                for path, _, key in self.edges(obj)
                if key is not None and ".dependsOn[" in f".{path}"
            ]
        try:
            dependency_order(list(deps), deps)
        except Cycle as cycle:
            path = [key for key in cycle.path if isinstance(key, tuple)]
            raise DependencyCycleError(path[0][0], [f"{ns}/{n}" for _, ns, n in path]) from None

    def order(self) -> list[FluxObject]:
        """The objects with every referenced object before its referrers (stable otherwise)."""
        deps = {
            key: [t for _, _, t in self.edges(obj) if t in self.by_key and t != key]
            for key, obj in self.by_key.items()
        }
        order = dependency_order(list(self.by_key), deps)
        return [self.by_key[key] for key in order]

    def mermaid(self) -> str:
        """A Mermaid flowchart: sources feed layers (dotted), dependsOn edges (solid)."""
        lines = ["flowchart LR"]
        ids = {key: _node_id(key) for key in self.by_key}
        for key, obj in self.by_key.items():
            shape = ("[(", ")]") if obj.kind.endswith(("Repository", "Bucket")) else ("[", "]")
            label = f"{obj.kind}<br/>{key[2]}"
            lines.append(f'  {ids[key]}{shape[0]}"{label}"{shape[1]}')
        for obj in self.objects:
            me = ids[key_of(obj, self.default_namespace)]
            for path, _, target in self.edges(obj):
                if target not in ids:
                    continue
                arrow = "-->" if ".dependsOn[" in f".{path}" else "-.->"
                lines.append(f"  {ids[target]} {arrow} {me}")
        return "\n".join(lines) + "\n"


def _node_id(key: Key) -> str:
    """A Mermaid node id that no other key shares: ASCII letters and digits stay, any other
    character becomes `_<hex>_`, and parts are joined by `__` (an escape always has a digit
    between its underscores, so `__` only ever separates parts). `a.b` and `a-b` differ."""
    return "__".join(_escape(part) for part in key)


def _escape(text: str) -> str:
    return "".join(c if c.isascii() and c.isalnum() else f"_{ord(c):x}_" for c in text)
