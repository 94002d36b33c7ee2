"""What a Flux cluster's metrics are: the Flux kinds kube-state-metrics reports (with the group,
version and state labels of each), the series the controllers and kube-state-metrics export with
their scraped labels, and the metrics Flux removed. `flux_catalog()` is what every Flux rule and
dashboard query is checked against.

Since Flux 2.5 the controllers export `gotk_reconcile_duration_seconds` (a histogram) and
controller-runtime metrics; whether an object is ready or suspended is no longer a controller
metric (`gotk_reconcile_condition` and `gotk_suspend_status` are gone): kube-state-metrics'
Custom Resource State produces `gotk_resource_info{customresource_kind, exported_namespace, name,
ready, suspended, ...}`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator

from gitops_sdk.api.release import CONTROLLERS, FluxController
from gitops_sdk.services.metric_catalog import MetricCatalog, MetricInfo

__all__ = [
    "FLUX_CONTROLLERS",
    "FLUX_KINDS",
    "KIND_STATE",
    "POD_TARGET_LABELS",
    "RECONCILED_KINDS",
    "SERVICE_TARGET_LABELS",
    "FluxControllers",
    "FluxKind",
    "FluxKinds",
    "KindState",
    "flux_catalog",
    "object_namespace_label",
    "unique",
]

FLUX_CONTROLLERS = CONTROLLERS
"""Every Flux controller, in the order Flux lists them."""

FluxKind = Literal[
    "GitRepository",
    "OCIRepository",
    "HelmRepository",
    "HelmChart",
    "Bucket",
    "Kustomization",
    "HelmRelease",
    "ImageRepository",
    "ImagePolicy",
    "ImageUpdateAutomation",
    "Receiver",
    "Alert",
    "Provider",
]
"""A Flux kind kube-state-metrics can report as `gotk_resource_info`."""

FLUX_KINDS: tuple[FluxKind, ...] = get_args(FluxKind)


@dataclass(frozen=True)
class KindState:
    group: str
    version: str
    plural: str
    labels: Mapping[str, tuple[str, ...]]
    """Kind-specific labels and the path of the field each is read from."""
    has_status: bool = True
    """Whether the kind has status conditions (so a `ready` label) and a reconciler."""


_SOURCE = "source.toolkit.fluxcd.io"
_REVISION = ("status", "artifact", "revision")
KIND_STATE: dict[FluxKind, KindState] = {
    "GitRepository": KindState(
        _SOURCE, "v1", "gitrepositories", {"revision": _REVISION, "url": ("spec", "url")}
    ),
    "OCIRepository": KindState(
        _SOURCE, "v1", "ocirepositories", {"revision": _REVISION, "url": ("spec", "url")}
    ),
    "HelmRepository": KindState(
        _SOURCE, "v1", "helmrepositories", {"revision": _REVISION, "url": ("spec", "url")}
    ),
    "HelmChart": KindState(
        _SOURCE,
        "v1",
        "helmcharts",
        {
            "revision": _REVISION,
            "chart_name": ("spec", "chart"),
            "chart_version": ("spec", "version"),
        },
    ),
    "Bucket": KindState(
        _SOURCE,
        "v1",
        "buckets",
        {
            "revision": _REVISION,
            "endpoint": ("spec", "endpoint"),
            "bucket_name": ("spec", "bucketName"),
        },
    ),
    "Kustomization": KindState(
        "kustomize.toolkit.fluxcd.io",
        "v1",
        "kustomizations",
        {
            "revision": ("status", "lastAppliedRevision"),
            "source_name": ("spec", "sourceRef", "name"),
        },
    ),
    "HelmRelease": KindState(
        "helm.toolkit.fluxcd.io",
        "v2",
        "helmreleases",
        {
            "revision": ("status", "history", "0", "chartVersion"),
            "chart_name": ("status", "history", "0", "chartName"),
            "chart_app_version": ("status", "history", "0", "appVersion"),
            "chart_ref_name": ("spec", "chartRef", "name"),
            "chart_source_name": ("spec", "chart", "spec", "sourceRef", "name"),
        },
    ),
    "ImageRepository": KindState(
        "image.toolkit.fluxcd.io", "v1", "imagerepositories", {"image": ("spec", "image")}
    ),
    "ImagePolicy": KindState(
        "image.toolkit.fluxcd.io",
        "v1",
        "imagepolicies",
        {"source_name": ("spec", "imageRepositoryRef", "name")},
    ),
    "ImageUpdateAutomation": KindState(
        "image.toolkit.fluxcd.io",
        "v1",
        "imageupdateautomations",
        {"source_name": ("spec", "sourceRef", "name")},
    ),
    "Receiver": KindState(
        "notification.toolkit.fluxcd.io",
        "v1",
        "receivers",
        {"webhook_path": ("status", "webhookPath")},
    ),
    "Alert": KindState("notification.toolkit.fluxcd.io", "v1beta3", "alerts", {}, False),
    "Provider": KindState("notification.toolkit.fluxcd.io", "v1beta3", "providers", {}, False),
}

RECONCILED_KINDS: tuple[FluxKind, ...] = tuple(k for k in FLUX_KINDS if KIND_STATE[k].has_status)
"""Kinds a controller reconciles (and so times in `gotk_reconcile_duration_seconds`)."""

POD_TARGET_LABELS = frozenset({"job", "instance", "namespace", "pod", "container", "endpoint"})
"""Labels the Prometheus Operator puts on every series of a PodMonitor target."""

SERVICE_TARGET_LABELS = POD_TARGET_LABELS | {"service"}
"""Labels on series of a ServiceMonitor target (kube-state-metrics in kube-prometheus-stack)."""

_REMOVED_METRICS = {
    "gotk_reconcile_condition": (
        "the controllers stopped recording it in Flux 2.5; use "
        'gotk_resource_info{ready="False"} from kube-state-metrics Custom Resource State'
    ),
    "gotk_suspend_status": (
        "the controllers stopped recording it in Flux 2.5; use "
        'gotk_resource_info{suspended="true"} from kube-state-metrics Custom Resource State'
    ),
}


def _scraped(exposed: set[str], honor_labels: bool) -> frozenset[str]:
    """Labels of an exposed series once scraped: a label clashing with a target label is kept as
    `exported_<label>` unless the scrape honors the exposed labels."""
    out = set(POD_TARGET_LABELS)
    for label in exposed:
        out.add(f"exported_{label}" if label in POD_TARGET_LABELS and not honor_labels else label)
    return frozenset(out)


def object_namespace_label(honor_labels: bool = False) -> str:
    """The label holding a Flux object's namespace on controller metrics: the controllers export
    `namespace`, which the scrape renames to `exported_namespace` (unless it honors labels)."""
    return "namespace" if honor_labels else "exported_namespace"


def flux_catalog(
    kinds: Sequence[FluxKind] = FLUX_KINDS, *, honor_labels: bool = False
) -> MetricCatalog:
    """The metrics a Flux 2.9 cluster has, with their scraped labels: the controllers' (scraped by
    `FluxPodMonitor` with `honor_labels`), `gotk_resource_info` for `kinds`, and `up`."""
    states = [KIND_STATE[k] for k in kinds]
    kind_labels = {label for s in states for label in s.labels}
    info_labels = {
        "customresource_group",
        "customresource_kind",
        "customresource_version",
        "exported_namespace",
        "name",
        "suspended",
        *kind_labels,
    }
    if any(s.has_status for s in states):
        info_labels.add("ready")
    reconciled = frozenset(RECONCILED_KINDS)
    metrics = [
        MetricInfo(
            "gotk_reconcile_duration_seconds",
            "histogram",
            _scraped({"kind", "name", "namespace"}, honor_labels),
            "How long each reconciliation took, per object.",
            {"kind": reconciled},
        ),
        MetricInfo(
            "gotk_resource_info",
            "info",
            frozenset(info_labels) | SERVICE_TARGET_LABELS,
            "One series per Flux object (kube-state-metrics Custom Resource State).",
            {
                "customresource_kind": frozenset(kinds),
                "customresource_group": frozenset(s.group for s in states),
                "customresource_version": frozenset(s.version for s in states),
                "ready": frozenset({"True", "False", "Unknown"}),
                "suspended": frozenset({"true", "false"}),
            },
        ),
        MetricInfo(
            "gotk_cache_events_total",
            "counter",
            _scraped({"event_type", "name", "namespace"}, honor_labels),
        ),
        MetricInfo(
            "gotk_token_cache_events_total",
            "counter",
            _scraped({"event_type", "kind", "name", "namespace", "operation"}, honor_labels),
        ),
        MetricInfo(
            "gotk_token_cache_requests_total", "counter", _scraped({"status"}, honor_labels)
        ),
        MetricInfo("gotk_token_cache_evictions_total", "counter", _scraped(set(), honor_labels)),
        MetricInfo("gotk_token_cached_items", "gauge", _scraped(set(), honor_labels)),
        MetricInfo(
            "controller_runtime_reconcile_total",
            "counter",
            _scraped({"controller", "result"}, honor_labels),
        ),
        MetricInfo(
            "workqueue_longest_running_processor_seconds",
            "gauge",
            _scraped({"name"}, honor_labels),
        ),
        MetricInfo(
            "rest_client_requests_total",
            "counter",
            _scraped({"code", "host", "method"}, honor_labels),
        ),
        MetricInfo("up", "gauge", SERVICE_TARGET_LABELS, "1 when the target was scraped."),
    ]
    return MetricCatalog(metrics, removed=_REMOVED_METRICS)


def unique(what: str) -> AfterValidator:
    """A validator refusing an empty list or one naming an item twice."""

    def check_unique(values: list[Any]) -> list[Any]:
        seen: set[Any] = set()
        for value in values:
            if value in seen:
                raise ValueError(f"lists {what} {value!r} twice")
            seen.add(value)
        if not values:
            raise ValueError(f"must list at least one {what}")
        return values

    return AfterValidator(check_unique)


FluxKinds = Annotated[list[FluxKind], unique("kind")]
"""Flux kinds, each once, at least one."""

FluxControllers = Annotated[list[FluxController], unique("controller")]
"""Flux controllers, each once, at least one."""
