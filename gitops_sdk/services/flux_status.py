"""Flux objects' status read as `flux get` reads it (Ready, reason, message, revision, age,
suspended), the Flux kinds a command may name (`ks/apps`), the source `--with-source`
reconciles and whether a reconcile request was handled: pure functions of status dicts, for
`services.cluster` and the day-2 commands. No Pulumi, no client here.

```python
row = object_status("Kustomization", "flux-system", "apps", obj, now())
print(status_table([row]))
```
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from gitops_sdk.api.kinds import flux_kinds
from gitops_sdk.core.errors import GitopsError

__all__ = [
    "FLUX_GROUP_SUFFIX",
    "REQUESTED_AT",
    "STATIC_KINDS",
    "ClusterError",
    "FluxKind",
    "ObjectStatus",
    "flux_kind",
    "format_age",
    "is_flux_document",
    "now",
    "object_status",
    "parse_ref",
    "pick_revision",
    "reconcile_outcome",
    "requested_at",
    "source_of",
    "status_table",
]

FLUX_GROUP_SUFFIX = ".toolkit.fluxcd.io"
REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"
"""The annotation `flux reconcile` sets; a controller copies it to status.lastHandledReconcileAt
once it has reconciled the object."""
_SOURCES = {"GitRepository", "OCIRepository", "Bucket", "HelmRepository", "HelmChart"}
STATIC_KINDS = {"Alert", "Provider"}
"""Kinds no controller reconciles since notification v1beta3: no Ready condition, no status."""
_ALIASES = {
    "ks": "Kustomization",
    "hr": "HelmRelease",
    "gitrepo": "GitRepository",
    "source-git": "GitRepository",
    "ocirepo": "OCIRepository",
    "helmrepo": "HelmRepository",
    "hc": "HelmChart",
}
_ORDER = [
    "GitRepository",
    "OCIRepository",
    "Bucket",
    "HelmRepository",
    "HelmChart",
    "ExternalArtifact",
    "Kustomization",
    "HelmRelease",
    "ImageRepository",
    "ImagePolicy",
    "ImageUpdateAutomation",
    "Receiver",
    "Provider",
    "Alert",
]


class ClusterError(GitopsError):
    """The cluster, the kubeconfig or an object on the cluster stops a day-2 command."""


@dataclass(frozen=True)
class FluxKind:
    """A Flux kind as the API server serves it."""

    kind: str
    group: str
    version: str

    @property
    def plural(self) -> str:
        low = self.kind.lower()
        return low[:-1] + "ies" if low.endswith("y") else low + "s"

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"

    def at(self, api_version: str) -> FluxKind:
        """This kind at another version of its group (as a stack declares it)."""
        return FluxKind(self.kind, self.group, api_version.rpartition("/")[2] or self.version)


@cache
def _kinds() -> dict[str, FluxKind]:
    found: dict[str, FluxKind] = {}
    for (group, kind), model in flux_kinds().items():
        if group.endswith(FLUX_GROUP_SUFFIX):
            found[kind] = FluxKind(kind, group, str(model.api_version).rpartition("/")[2])
    return found


def flux_kind(name: str) -> FluxKind:
    """The Flux kind `name` names: `Kustomization`, `kustomization`, `kustomizations`, `ks`."""
    kinds = _kinds()
    key = name.strip().lower()
    by_name = {k.lower(): v for k, v in kinds.items()}
    by_name.update({v.plural: v for v in kinds.values()})
    by_name.update({a: kinds[k] for a, k in _ALIASES.items()})
    if key not in by_name:
        known = ", ".join(sorted(kinds, key=_rank))
        raise ClusterError(
            f"unknown Flux kind {name!r} (expected one of {known}, or ks, hr, gitrepo, helmrepo)"
        )
    return by_name[key]


def parse_ref(ref: str) -> tuple[FluxKind, str]:
    """`KIND/NAME` (e.g. `ks/apps`, `GitRepository/flux-system`) as (kind, name)."""
    kind, sep, name = ref.partition("/")
    if not sep or not kind or not name or "/" in name:
        raise ClusterError(
            f"{ref!r} is not KIND/NAME (expected e.g. 'Kustomization/apps' or 'ks/apps')"
        )
    return flux_kind(kind), name


def is_flux_document(doc: Mapping[str, Any]) -> bool:
    """Whether a rendered manifest is a Flux object (a kind of a `*.toolkit.fluxcd.io` group)."""
    group = str(doc.get("apiVersion", "")).rpartition("/")[0]
    return group.endswith(FLUX_GROUP_SUFFIX) and doc.get("kind") in _kinds()


def _rank(kind: str) -> int:
    return _ORDER.index(kind) if kind in _ORDER else len(_ORDER)


# --- status, read as `flux get` reads it --------------------------------------------------------


def now() -> datetime:
    return datetime.now(UTC)


def _time(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def format_age(created: Any, at: datetime) -> str:
    """Age as kubectl prints it: `45s`, `12m`, `5h`, `3d`; `-` when unknown."""
    start = _time(created)
    if start is None:
        return "-"
    seconds = max(0, int((at - start).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size * (2 if unit != "m" else 1):
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def pick_revision(kind: str, status: Mapping[str, Any]) -> str:
    """The revision `flux get` shows: a source's artifact revision, a Kustomization's last
    applied (else last attempted) revision, a HelmRelease's chart version, an ImagePolicy's
    latest image, an ImageUpdateAutomation's last pushed commit; empty when there is none."""
    artifact = status.get("artifact") or {}
    if kind in _SOURCES or kind == "ExternalArtifact":
        return str(artifact.get("revision") or "")
    if kind == "HelmRelease":
        history = status.get("history") or []
        if history and isinstance(history[0], Mapping) and history[0].get("chartVersion"):
            return str(history[0]["chartVersion"])
        return str(status.get("lastAttemptedRevision") or "")
    if kind == "ImagePolicy":
        ref = status.get("latestRef") or {}
        if ref.get("name"):
            tag = f":{ref['tag']}" if ref.get("tag") else ""
            return f"{ref['name']}{tag}" + (f"@{ref['digest']}" if ref.get("digest") else "")
        return str(status.get("latestImage") or "")
    if kind == "ImageUpdateAutomation":
        commit = status.get("lastPushCommit") or ""
        return str(commit)
    for key in ("lastAppliedRevision", "lastAttemptedRevision"):
        if status.get(key):
            return str(status[key])
    return str(artifact.get("revision") or "")


def _condition(obj: Mapping[str, Any], type_: str = "Ready") -> Mapping[str, Any] | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if isinstance(cond, Mapping) and cond.get("type") == type_:
            return cond
    return None


@dataclass(frozen=True)
class ObjectStatus:
    """One row of `gitops status`."""

    kind: str
    namespace: str
    name: str
    ready: str
    """`True`, `False`, `Unknown`, `-` (a kind without a Ready condition) or `Missing`."""
    reason: str = ""
    message: str = ""
    revision: str = ""
    age: str = "-"
    suspended: bool = False

    @property
    def ok(self) -> bool:
        return self.ready in ("True", "-")

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"


def object_status(
    kind: str, namespace: str, name: str, obj: Mapping[str, Any] | None, at: datetime
) -> ObjectStatus:
    """The status row of `obj` (None: not on the cluster). Ready=True of an older generation
    than the object's is shown as `Unknown` (not reconciled since the last change), unless the
    object is suspended (then nothing reconciles it and the last result stands)."""
    if obj is None:
        return ObjectStatus(kind, namespace, name, "Missing", "NotFound", "not on the cluster")
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    spec = obj.get("spec") or {}
    suspended = bool(spec.get("suspend"))
    age = format_age(meta.get("creationTimestamp"), at)
    revision = pick_revision(kind, status)
    cond = _condition(obj)
    if cond is None:
        if kind in STATIC_KINDS:
            return ObjectStatus(kind, namespace, name, "-", "", "", revision, age, suspended)
        return ObjectStatus(
            kind, namespace, name, "Unknown", "NotReconciled", "no Ready condition yet",
            revision, age, suspended,
        )  # fmt: skip
    ready = str(cond.get("status") or "Unknown")
    reason = str(cond.get("reason") or "")
    message = " ".join(str(cond.get("message") or "").split())
    generation, observed = meta.get("generation"), status.get("observedGeneration")
    stale = isinstance(generation, int) and isinstance(observed, int) and observed < generation
    if ready == "True" and stale and not suspended:
        ready, reason = "Unknown", "Progressing"
        message = f"generation {generation} not reconciled yet (Ready is of {observed})"
    return ObjectStatus(kind, namespace, name, ready, reason, message, revision, age, suspended)


def status_table(rows: Sequence[ObjectStatus]) -> str:
    """Rows as aligned columns, sources first, then Kustomizations, HelmReleases, the rest."""
    header = ("NAMESPACE", "NAME", "READY", "SUSPENDED", "REVISION", "AGE", "REASON", "MESSAGE")
    ordered = sorted(rows, key=lambda r: (_rank(r.kind), r.namespace, r.name))
    cells = [header] + [
        (
            r.namespace,
            f"{r.kind}/{r.name}",
            r.ready,
            str(r.suspended),
            r.revision or "-",
            r.age,
            r.reason or "-",
            r.message or "-",
        )
        for r in ordered
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header) - 1)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) for row in cells]
    return "\n".join(f"{line}  {row[-1]}".rstrip() for line, row in zip(lines, cells, strict=True))


# --- reconcile ----------------------------------------------------------------------------------


def requested_at(at: datetime) -> str:
    """A fresh `reconcile.fluxcd.io/requestedAt` value (RFC 3339 with fraction, as flux)."""
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def source_of(kind: FluxKind, obj: Mapping[str, Any]) -> tuple[FluxKind, str, str] | None:
    """(kind, namespace, name) of the source `flux reconcile --with-source` reconciles first:
    a Kustomization's or HelmChart's sourceRef, a HelmRelease's chartRef or its HelmChart, an
    ImageUpdateAutomation's GitRepository, an ImagePolicy's ImageRepository; None otherwise."""
    meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
    own_ns = str(meta.get("namespace") or "")
    ref: Mapping[str, Any] | None = None
    if kind.kind in ("Kustomization", "HelmChart", "ImageUpdateAutomation"):
        ref = spec.get("sourceRef")
    elif kind.kind == "ImagePolicy":
        ref = {**(spec.get("imageRepositoryRef") or {}), "kind": "ImageRepository"}
    elif kind.kind == "HelmRelease":
        ref = spec.get("chartRef")
        if not ref:
            chart = (obj.get("status") or {}).get("helmChart") or ""
            chart_ns, _, chart_name = str(chart).rpartition("/")
            source = ((spec.get("chart") or {}).get("spec") or {}).get("sourceRef") or {}
            ref = {
                "kind": "HelmChart",
                "namespace": chart_ns or source.get("namespace") or own_ns,
                "name": chart_name or f"{own_ns}-{meta.get('name')}",
            }
    if not ref or not ref.get("name") or not ref.get("kind"):
        return None
    return flux_kind(str(ref["kind"])), str(ref.get("namespace") or own_ns), str(ref["name"])


def reconcile_outcome(obj: Mapping[str, Any] | None, token: str) -> str | None:
    """None while the controller has not handled request `token`; then `ready` or `failed`."""
    if obj is None:
        return "failed"
    if (obj.get("status") or {}).get("lastHandledReconcileAt") != token:
        return None
    cond = _condition(obj)
    if cond is None or cond.get("status") == "Unknown":
        return None
    return "ready" if cond.get("status") == "True" else "failed"
