"""Turn Flux objects read from a repository into stack config entries: a Kustomization into a
`gitops:layers` entry, a source into a `gitops:sources` entry, a HelmRelease into a HelmRelease
unit. Each conversion returns the entry, or the reason the object cannot be one.

Entries use the stack file's camelCase keys; what they render is the object they came from
(a HelmRelease unit excepted: it moves into the Flux namespace, see `helm_unit`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

__all__ = [
    "KUSTOMIZATION_FIELDS",
    "Converted",
    "helm_unit",
    "layer_entry",
    "named_source",
]


class Converted(NamedTuple):
    """A config entry, or why there is none (entry None)."""

    entry: dict[str, Any] | None
    reason: str = ""
    reshaped: tuple[str, ...] = ()
    """What the entry renders differently from the object, one phrase each."""


KUSTOMIZATION_FIELDS = {
    # Flux field -> unit key, for the fields a unit keeps as written.
    "interval": "interval",
    "retryInterval": "retryInterval",
    "timeout": "timeout",
    "prune": "prune",
    "wait": "wait",
    "suspend": "suspend",
    "targetNamespace": "targetNamespace",
    "patches": "patches",
    "images": "images",
    "healthChecks": "healthChecks",
    "healthCheckExprs": "healthCheckExprs",
    "components": "components",
    "ignoreMissingComponents": "ignoreMissingComponents",
    "commonMetadata": "commonMetadata",
    "namePrefix": "namePrefix",
    "nameSuffix": "nameSuffix",
    "serviceAccountName": "serviceAccountName",
    "kubeConfig": "kubeConfig",
    "force": "force",
    "deletionPolicy": "deletionPolicy",
    "ignore": "ignore",
    "buildMetadata": "buildMetadata",
    "decryption": "decryptionSpec",
}


def _ref_ns(ref: Mapping[str, Any], own: str) -> str:
    return str(ref.get("namespace") or own)


def layer_entry(
    doc: Mapping[str, Any],
    *,
    flux_ns: str,
    repo: tuple[str, str],
    sources: Mapping[tuple[str, str], str],
    units: Mapping[str, str],
) -> Converted:
    """The `gitops:layers` entry for Kustomization `doc` (in `flux_ns`), rendered under its own
    name. `repo` is (kind, name) of the cluster's repository; `sources` maps (kind, name) of
    the named sources to their names; `units` maps the names of the other Kustomizations that
    become units to their layer names."""
    spec: dict[str, Any] = dict(doc.get("spec") or {})
    entry: dict[str, Any] = {}
    reshaped: list[str] = []
    ref = dict(spec.pop("sourceRef", {}) or {})
    key = (str(ref.get("kind")), str(ref.get("name")))
    plain_ref = set(ref) <= {"kind", "name", "namespace"} and _ref_ns(ref, flux_ns) == flux_ns
    if plain_ref and key == repo:
        pass  # the cluster's own repository is every unit's default source
    elif plain_ref and key in sources:
        entry["source"] = sources[key]
    else:
        entry["sourceRef"] = ref
    if "path" in spec:
        entry["path"] = spec.pop("path")
    else:
        entry["path"] = "./"
        reshaped.append("spec.path: not set (the source's root) becomes './', the same folder")
    deps = spec.pop("dependsOn", None) or []
    names = []
    for dep in deps:
        name = dep.get("name")
        if set(dep) - {"name", "namespace"} or _ref_ns(dep, flux_ns) != flux_ns:
            return Converted(None, f"dependsOn {name!r} has readyExpr or another namespace")
        if name not in units:
            return Converted(None, f"dependsOn {name!r}, which is not imported as a unit")
        names.append(units[name])
    if names:
        entry["dependsOn"] = names
    post = dict(spec.pop("postBuild", None) or {})
    if "substitute" in post:
        entry["substitute"] = post.pop("substitute") or {}
    if "substituteFrom" in post:
        entry["substituteFrom"] = post.pop("substituteFrom")
    if "substituteStrategy" in post:
        entry["substituteStrategy"] = post.pop("substituteStrategy")
    if entry.get("substitute") == {} and not post:
        return Converted(None, "postBuild.substitute is empty, which a unit does not render")
    for field, unit_key in KUSTOMIZATION_FIELDS.items():
        if field in spec:
            entry[unit_key] = spec.pop(field)
    if spec:
        return Converted(None, f"spec has {', '.join(sorted(spec))}, which a unit does not take")
    return Converted(entry, reshaped=tuple(reshaped))


_SOURCE_TYPES = {"GitRepository": "git", "OCIRepository": "oci", "HelmRepository": "helm"}


def named_source(doc: Mapping[str, Any]) -> Converted:
    """The `gitops:sources` entry that renders source `doc` exactly, or why none does."""
    kind = str(doc.get("kind"))
    if kind not in _SOURCE_TYPES:
        return Converted(None, f"a {kind} is not a kind gitops:sources declares")
    spec: dict[str, Any] = dict(doc.get("spec") or {})
    url = spec.pop("url", None)
    interval = spec.pop("interval", None)
    if not isinstance(url, str) or not isinstance(interval, str):
        return Converted(None, "it has no url or no interval, which gitops:sources always sets")
    entry: dict[str, Any] = {"type": _SOURCE_TYPES[kind], "url": url, "interval": interval}
    oci = url.startswith("oci://")
    if kind == "HelmRepository":
        kind_type = spec.pop("type", None)
        if (kind_type == "oci") != oci:
            return Converted(None, f"spec.type {kind_type!r} with url {url!r}")
    elif "ref" in spec:
        ref = spec.pop("ref")
        if not isinstance(ref, dict) or not all(isinstance(v, str) for v in ref.values()):
            return Converted(None, "spec.ref is not a mapping of strings")
        entry["ref"] = ref
    if "secretRef" in spec:
        secret = spec.pop("secretRef")
        if not isinstance(secret, dict) or set(secret) != {"name"}:
            return Converted(None, "spec.secretRef has more than a name")
        entry["secretName"] = secret["name"]
    if "provider" in spec:
        if not oci:
            return Converted(None, "spec.provider is set on a non-oci:// source")
        entry["provider"] = spec.pop("provider")
    if spec:
        return Converted(
            None, f"spec has {', '.join(sorted(spec))}, which gitops:sources does not take"
        )
    return Converted(entry)


_HELM_FIELDS = {
    "values": "values",
    "install": "install",
    "upgrade": "upgrade",
    "driftDetection": "driftDetection",
    "timeout": "timeout",
    "suspend": "suspend",
    "interval": "interval",
}


def helm_unit(doc: Mapping[str, Any], *, flux_ns: str, source_name: str | None) -> Converted:
    """The HelmRelease unit for `doc`, whose chart source became the named source
    `source_name`. The unit lives in the Flux namespace and installs into the release's
    namespace, with the SDK's install, upgrade and drift detection defaults under its own."""
    spec: dict[str, Any] = dict(doc.get("spec") or {})
    meta = doc.get("metadata") or {}
    own_ns = str(meta.get("namespace") or flux_ns)
    entry: dict[str, Any] = {}
    if source_name is None:
        return Converted(None, "its chart source cannot be a named source")
    chart = spec.pop("chart", None)
    chart_ref = spec.pop("chartRef", None)
    if chart is not None:
        chart_spec = dict(chart.get("spec") or {}) if isinstance(chart, dict) else {}
        if set(chart) - {"spec"} or set(chart_spec) - {"chart", "version", "sourceRef"}:
            return Converted(None, "spec.chart has fields a unit does not take")
        entry["chart"] = chart_spec.get("chart")
        entry["source"] = source_name
        entry["version"] = chart_spec.get("version", "*")
    elif isinstance(chart_ref, dict):
        entry["chartRef"] = source_name
    else:
        return Converted(None, "it has neither spec.chart nor spec.chartRef")
    if "valuesFrom" in spec:
        if own_ns != flux_ns:
            return Converted(None, f"spec.valuesFrom reads objects of namespace {own_ns!r}")
        entry["valuesFrom"] = spec.pop("valuesFrom")
    target = spec.pop("targetNamespace", None) or own_ns
    storage = spec.pop("storageNamespace", None)
    if storage not in (None, target):
        return Converted(None, f"spec.storageNamespace {storage!r} differs from {target!r}")
    entry["targetNamespace"] = target
    entry["releaseName"] = spec.pop("releaseName", None) or meta.get("name")
    for field, key in _HELM_FIELDS.items():
        if field in spec:
            entry[key] = spec.pop(field)
    if spec:
        return Converted(None, f"spec has {', '.join(sorted(spec))}, which a unit does not take")
    reshaped: tuple[str, ...] = (
        f"moves from namespace {own_ns!r} to {flux_ns!r}, installing into {target!r}",
        "gains the SDK's install/upgrade remediation and drift detection defaults",
    )
    if entry.get("version") == "*" and chart is not None:
        reshaped += ("its chart has no version: the unit pins '*' (any version)",)
    return Converted(entry, reshaped=reshaped)
