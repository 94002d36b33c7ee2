"""Plan `gitops import`: decide, for every object a cluster gets from its Flux repository, who
owns it once the stack does, and write that down as the stack's `gitops:` config.

- The Flux install (gotk-components), the cluster's GitRepository and the Kustomization that
  applies the entry folder are the stack's own (`gitops:flux`, `gitops:repository`).
- Every Flux Kustomization in the Flux namespace becomes a unit: a layer of its own name, so
  it renders under that exact name. One a unit cannot express becomes a raw object.
- Every source in the Flux namespace becomes a named source, or a raw object.
- HelmReleases stay in Git, or with `helm_releases` become HelmRelease units.
- Whatever else the entry folder holds becomes a raw object (`gitops:objects`); what the units'
  folders hold stays in Git, applied by its unit.
- A unit whose folder held objects the stack now owns leaves them out with `$patch: delete`
  patches (and depends on the Kustomizations it waited for), so no object has two owners.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitops_sdk.core.errors import ConfigError
from gitops_sdk.core.substitution import has_placeholder
from gitops_sdk.services.flux_convert import helm_unit, layer_entry, named_source
from gitops_sdk.services.flux_patch import delete_patch
from gitops_sdk.services.flux_refs import dangling, repository_config
from gitops_sdk.services.flux_walk import (
    FLUX_LABEL,
    Found,
    Key,
    Walk,
    is_flux,
    key_of,
    walk_cluster,
)

__all__ = ["Plan", "plan_import"]

SOURCE_KINDS = ("GitRepository", "OCIRepository", "HelmRepository", "Bucket", "HelmChart")
TAKEN = ("unit", "source", "object", "helm-unit")
"""Fates of objects the stack owns after the import, taken out of their applier's output."""
_IMPORTED_FLAGS = ("--no-cross-namespace-refs", "--default-service-account")
"""Controller flags the import turns into gitops:flux settings."""
_TUNING = ("interval", "retryInterval", "timeout", "wait", "prune")


@dataclass
class Plan:
    """The stack config (`gitops:` keys without the prefix) and what the import did."""

    config: dict[str, Any]
    report: list[str] = field(default_factory=list)


@dataclass
class _State:
    walk: Walk
    flux_ns: str
    helm_releases: bool
    fate: dict[int, tuple[str, str]] = field(default_factory=dict)
    layers: dict[str, dict[str, Any]] = field(default_factory=dict)
    layer_of: dict[int, str] = field(default_factory=dict)
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    source_of: dict[tuple[str, str, str], str] = field(default_factory=dict)
    raw: dict[int, dict[str, Any]] = field(default_factory=dict)
    report: list[str] = field(default_factory=list)

    def what(self, f: Found) -> str:
        kind, ns, name = key_of(f.doc)
        return f"{kind} {ns + '/' if ns else ''}{name} ({self.walk.shown(f.file)})"


def plan_import(
    root: Path, entry: Path, *, stack: str, helm_releases: bool = False, repo_url: str | None = None
) -> Plan:
    """The stack config that takes over the cluster whose entry folder is `entry`."""
    walk = walk_cluster(root, entry)
    st = _State(walk, walk.repo_ref[0], helm_releases)
    _classify(st)
    _named_sources(st)
    _units(st)
    if helm_releases:
        _helm_units(st)
    _reshape(st)
    config: dict[str, Any] = {
        "cluster": {"name": stack, "environment": _environment(walk.entry, stack)},
        "repository": repository_config(walk, repo_url, st.report),
        "flux": _flux(st),
        "defaults": _defaults(st),
    }
    if st.sources:
        config["sources"] = st.sources
    if st.layers:
        config["layers"] = st.layers
    if st.raw:
        config["objects"] = [st.raw[i] for i in sorted(st.raw)]
    _externals(st, config)
    return Plan(config, [*st.report, *(f"note     {n}" for n in walk.notes)])


def _environment(entry: str, stack: str) -> str:
    name = entry.rstrip("/").rpartition("/")[2].lower()
    return name if re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", name) else stack


def _classify(st: _State) -> None:
    walk = st.walk
    for i, f in enumerate(walk.found):
        kind, ns, name = key_of(f.doc)
        labels = (f.doc.get("metadata") or {}).get("labels") or {}
        top = f.applier is None
        if top and (f.file.name == "gotk-components.yaml" or labels.get(FLUX_LABEL[0]) == "flux"):
            st.fate[i] = ("install", "Flux's install objects: gitops:flux installs Flux")
        elif top and walk.root_ks is not None and key_of(f.doc) == key_of(walk.root_ks.doc):
            st.fate[i] = ("root", "it applies the entry folder, whose objects the stack now owns")
        elif top and walk.repository is not None and key_of(f.doc) == key_of(walk.repository.doc):
            st.fate[i] = ("repository", "gitops:repository")
        elif f.unresolved:
            if top:
                raise ConfigError(f"{walk.shown(f.file)}: {kind} {name}: {f.unresolved}")
            st.fate[i] = ("git", f.unresolved)
        elif has_placeholder(name) or has_placeholder(ns):
            if top:
                raise ConfigError(
                    f"{walk.shown(f.file)}: {kind} {name!r}: its name holds a placeholder that "
                    "nothing substitutes; expected a name Kubernetes accepts"
                )
            st.fate[i] = ("git", "its name holds a placeholder that its applier substitutes")
        elif is_flux(f.doc) and kind == "Kustomization" and ns == st.flux_ns:
            st.fate[i] = ("unit?", "")
        elif is_flux(f.doc) and kind in SOURCE_KINDS and ns == st.flux_ns:
            st.fate[i] = ("source?", "")
        elif is_flux(f.doc) and kind == "HelmRelease" and st.helm_releases:
            st.fate[i] = ("helm?", "")
        elif top and kind == "Secret" and f.doc.get("apiVersion") == "v1":
            st.fate[i] = (
                "left out",
                "a Secret is not copied into the stack file; create it "
                "outside the stack (e.g. with gitops secrets) or keep it in a unit",
            )
        elif top:
            _to_raw(st, i, "the entry folder's objects are applied by the stack now")
        else:
            st.fate[i] = ("git", f"applied by {_applier(st, f)}")


def _applier(st: _State, f: Found) -> str:
    return f"Kustomization {f.applier[2]}" if f.applier else "the entry folder"


def _to_raw(st: _State, i: int, reason: str) -> None:
    st.fate[i] = ("object", reason)
    st.raw[i] = st.walk.found[i].doc


def _named_sources(st: _State) -> None:
    repo_name = st.walk.repo_ref[1]
    for i, f in enumerate(st.walk.found):
        if st.fate[i][0] != "source?":
            continue
        converted = named_source(f.doc)
        name = f.doc["metadata"]["name"]
        if converted.entry is None or name == repo_name:
            _to_raw(st, i, converted.reason or "it has the name of the cluster's GitRepository")
            continue
        st.sources[name] = converted.entry
        st.source_of[key_of(f.doc)] = name
        st.fate[i] = ("source", f"gitops:sources.{name}")


def _units(st: _State) -> None:
    cands = {i for i, (fate, _) in st.fate.items() if fate == "unit?"}
    repo = ("GitRepository", st.walk.repo_ref[1])
    sources = {(k, n): name for (k, _, n), name in st.source_of.items()}
    while True:
        names = {st.walk.found[i].doc["metadata"]["name"]: i for i in cands}
        entries, failed = {}, set()
        for i in cands:
            f = st.walk.found[i]
            units = {n: n for n in names}
            got = layer_entry(f.doc, flux_ns=st.flux_ns, repo=repo, sources=sources, units=units)
            if got.entry is None:
                failed.add(i)
                _to_raw(st, i, got.reason)
            else:
                entries[i] = got
        if not failed:
            break
        cands -= failed
    for i in sorted(entries):
        name = st.walk.found[i].doc["metadata"]["name"]
        st.layers[name] = entries[i].entry or {}
        st.layer_of[i] = name
        st.fate[i] = ("unit", f"gitops:layers.{name}")
        for shape in entries[i].reshaped:
            st.report.append(f"reshaped {st.what(st.walk.found[i])}: {shape}")


def _helm_units(st: _State) -> None:
    by_key = {key_of(f.doc): f for f in st.walk.found}
    for i, f in enumerate(st.walk.found):
        if st.fate[i][0] != "helm?":
            continue
        spec = f.doc.get("spec") or {}
        ref = (
            ((spec.get("chart") or {}).get("spec") or {}).get("sourceRef")
            or spec.get("chartRef")
            or {}
        )
        ns = ref.get("namespace") or f.doc["metadata"].get("namespace") or st.flux_ns
        skey = (str(ref.get("kind")), str(ns), str(ref.get("name")))
        source = by_key.get(skey)
        sname = st.source_of.get(skey)
        if sname is None and source is not None and (conv := named_source(source.doc)).entry:
            sname = skey[2] if skey[2] not in st.sources else f"{skey[2]}-{skey[1]}"
            if st.sources.get(sname, conv.entry) == conv.entry:
                st.sources[sname] = conv.entry
                st.source_of[skey] = sname
            else:
                sname = None
        got = helm_unit(f.doc, flux_ns=st.flux_ns, source_name=sname)
        name = key_of(f.doc)[2]
        layer = name if name not in st.layers else f"{name}-{key_of(f.doc)[1]}"
        if got.entry is None or layer in st.layers:
            reason = got.reason or f"the name {layer!r} is taken"
            st.fate[i] = ("git", f"not a HelmRelease unit: {reason}")
            if f.applier is None:
                _to_raw(st, i, f"not a HelmRelease unit: {reason}")
            continue
        st.layers[layer] = got.entry
        st.layer_of[i] = layer
        st.fate[i] = ("helm-unit", f"gitops:layers.{layer}")
        for shape in got.reshaped:
            st.report.append(f"reshaped {st.what(f)}: {shape}")


def _depends(st: _State) -> dict[str, set[str]]:
    return {name: set(e.get("dependsOn") or []) for name, e in st.layers.items()}


def _reaches(deps: dict[str, set[str]], start: str, goal: str) -> bool:
    todo, seen = [start], set()
    while todo:
        name = todo.pop()
        if name == goal:
            return True
        if name not in seen:
            seen.add(name)
            todo += deps.get(name, ())
    return False


def _reshape(st: _State) -> None:
    """Take what the stack now owns out of the output of the Kustomization that applied it."""
    index = {id(f): i for i, f in enumerate(st.walk.found)}
    by_key = {key_of(f.doc): index[id(f)] for f in st.walk.found}
    groups = {
        by_key[applier]: (group, [f for f in group if st.fate[index[id(f)]][0] in TAKEN])
        for applier, group in st.walk.built.items()
    }
    for i, (_, taken) in groups.items():  # parents before children: the walk's order
        if st.fate[i][0] == "unit":
            _inherit(st, i, taken, index)
    _leave_out(st, groups)
    for i, (_, taken) in groups.items():
        fate = st.fate[i][0]
        if not taken or fate not in ("unit", "object"):
            continue
        if fate == "unit":
            spec = st.layers[st.layer_of[i]]
        else:
            st.raw[i] = {**st.raw[i], "spec": dict(st.raw[i]["spec"])}
            spec = st.raw[i]["spec"]
        what = ", ".join(f"{k} {n}" for k, _, n in (key_of(f.doc) for f in taken))
        spec["patches"] = [
            *(spec.get("patches") or []),
            *({"patch": delete_patch(f.built)} for f in taken),
        ]
        st.report.append(
            f"reshaped {st.what(st.walk.found[i])}: patches leave out {what} (now the stack's)"
        )
        if fate == "unit" and spec.get("wait"):
            _wait_for(st, i, spec, taken, index)


def _inherit(st: _State, i: int, taken: list[Found], index: dict[int, int]) -> None:
    """A Kustomization unit its applier applied only once the applier's dependencies were
    ready depends on those itself."""
    deps = st.layers[st.layer_of[i]].get("dependsOn") or []
    for f in taken:
        j = index[id(f)]
        if st.fate[j][0] != "unit":
            continue
        child = st.layers[st.layer_of[j]]
        for dep in deps:
            if dep in (child.get("dependsOn") or []) or _reaches(_depends(st), dep, st.layer_of[j]):
                continue
            child["dependsOn"] = [*(child.get("dependsOn") or []), dep]
            st.report.append(
                f"reshaped {st.what(f)}: depends on {dep}, as {st.layer_of[i]}, which applied "
                "it, did"
            )


def _leave_out(st: _State, groups: dict[int, tuple[list[Found], list[Found]]]) -> None:
    """Units that applied nothing but what the stack owns now, and that nothing depends on."""
    changed = True
    while changed:
        changed = False
        for i, (group, taken) in groups.items():
            if st.fate[i][0] != "unit" or not taken or len(taken) != len(group):
                continue
            layer = st.layer_of[i]
            if any(layer in (e.get("dependsOn") or []) for e in st.layers.values()):
                continue
            del st.layers[layer]
            what = ", ".join(f"{k} {n}" for k, _, n in (key_of(f.doc) for f in taken))
            st.fate[i] = ("left out", f"every object it applied is the stack's now ({what})")
            changed = True


def _wait_for(
    st: _State, i: int, spec: dict[str, Any], taken: list[Found], index: dict[int, int]
) -> None:
    """A unit that waited for the Kustomizations it applied depends on them instead."""
    layer = st.layer_of[i]
    for f in taken:
        child = st.layer_of.get(index[id(f)])
        if child is None or st.fate[index[id(f)]][0] != "unit":
            continue
        if child in (spec.get("dependsOn") or []) or _reaches(_depends(st), child, layer):
            continue
        spec["dependsOn"] = [*(spec.get("dependsOn") or []), child]
        st.report.append(
            f"reshaped {st.what(st.walk.found[i])}: depends on {child}, which it waited for "
            "when it applied it"
        )


def _defaults(st: _State) -> dict[str, Any]:
    """Tuning every Kustomization unit shares; a setting not every unit has stays per unit (a
    default would add it to the others)."""
    units = [e for e in st.layers.values() if "chart" not in e and "chartRef" not in e]
    out: dict[str, Any] = {"retryInterval": None, "timeout": None, "wait": None}
    for key in _TUNING:
        values = [e.get(key) for e in units]
        common = Counter(repr(v) for v in values).most_common(1)
        if not values or common[0][1] != len(values) or values[0] is None:
            if key == "interval" and values:
                present = [v for v in values if v is not None]
                out[key] = Counter(present).most_common(1)[0][0] if present else "10m"
            continue
        out[key] = values[0]
    for e in units:
        for key in _TUNING:
            if key in out and e.get(key) == out[key]:
                e.pop(key, None)
    return out


def _flux(st: _State) -> dict[str, Any]:
    out: dict[str, Any] = {"namespace": st.flux_ns}
    entry = st.walk.root / st.walk.entry
    for path in sorted(entry.rglob("gotk-components.yaml")):
        head = path.read_text(errors="replace")[:2000]
        if m := re.search(r"^# Flux Version: v?(\d+\.\d+\.\d+)\s*$", head, re.M):
            out["version"] = m.group(1)
        for name in ("kustomization.yaml", "kustomization.yml"):
            text = (path.parent / name).read_text() if (path.parent / name).is_file() else ""
            if "--no-cross-namespace-refs=true" in text:
                out["noCrossNamespaceRefs"] = True
            if m := re.search(r"--default-service-account=([a-z0-9.-]+)", text):
                out["defaultServiceAccount"] = m.group(1)
            flags = sorted(set(re.findall(r"(--[a-z-]+)=", text)) - set(_IMPORTED_FLAGS))
            if flags:
                st.report.append(
                    f"note     {st.walk.shown(path.parent / name)} patches the controllers with "
                    f"{', '.join(flags)}, which the import does not take over; set them in "
                    "gitops:flux.defaults or gitops:flux.controllers"
                )
        break
    return out


def _externals(st: _State, config: dict[str, Any]) -> None:
    """Objects the stack's objects refer to that stay outside it: `gitops:flux.external`."""
    walk = st.walk
    declared: set[Key] = {("GitRepository", st.flux_ns, walk.repo_ref[1])}
    declared |= {("Kustomization", st.flux_ns, n) for n, e in st.layers.items() if "path" in e}
    declared |= {(k, st.flux_ns, n) for (k, _, n) in st.source_of}
    declared |= {key_of(doc, st.flux_ns) for doc in st.raw.values()}
    mine = [walk.found[i].doc for i, (fate, _) in st.fate.items() if fate == "unit"]
    mine += [d for d in st.raw.values() if is_flux(d)]
    external = []
    for key, who in dangling(mine, declared, st.flux_ns):
        external.append("/".join(key))
        st.report.append(
            f"external {key[0]} {key[1]}/{key[2]}: {who} refers to it; it is made "
            "outside the stack (gitops:flux.external)"
        )
    if external:
        config["flux"]["external"] = sorted(set(external))
    lines = []
    for i, f in enumerate(walk.found):
        fate, why = st.fate[i]
        text = f"{_LABELS[fate]:<8} {st.what(f)}: {why}"
        if f.upgraded:
            text += f" (apiVersion {f.upgraded} is no longer served: {f.doc['apiVersion']})"
        lines.append(text)
    st.report[:0] = lines


_LABELS = {
    "unit": "unit",
    "helm-unit": "unit",
    "source": "source",
    "object": "object",
    "git": "in Git",
    "left out": "left out",
    "install": "left out",
    "root": "left out",
    "repository": "source",
}
