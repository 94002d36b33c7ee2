"""Monitoring Flux with the Prometheus Operator, kube-state-metrics and Grafana.

What exists since Flux 2.5 (reference §9): the controllers export `gotk_reconcile_duration_seconds`
(a histogram) and controller-runtime metrics, scraped by a PodMonitor on port `http-prom`. Whether
an object is ready or suspended is no longer a controller metric (`gotk_reconcile_condition` and
`gotk_suspend_status` are gone): kube-state-metrics' Custom Resource State produces
`gotk_resource_info{customresource_kind, exported_namespace, name, ready, suspended, ...}`.

This module renders, checks and registers:

- `FluxPodMonitor`: the PodMonitor for the controllers.
- `FluxStateMetrics`: a ConfigMap holding the kube-prometheus-stack values that turn on Custom
  Resource State for the given Flux kinds. The kube-prometheus-stack HelmRelease (in Git) merges it
  with `valuesFrom`, and the `reconcile.fluxcd.io/watch: Enabled` label makes helm-controller
  upgrade the release as soon as the ConfigMap changes. A values fragment rather than a raw
  `--custom-resource-state-config` file: the chart then renders the config, mounts it and grants
  kube-state-metrics list/watch on the Flux kinds (`rbac.extraRules`), which a bare file cannot.
- `FluxAlertRules`: a PrometheusRule (failing, suspended, slow, controller down) whose severities,
  `for` durations and thresholds come from typed settings with staging and production presets.
- `FluxDashboard`: a Grafana dashboard ConfigMap (`grafana_dashboard: "1"`) built from typed panels.
- `FluxMonitoring`: all four, consistent with each other (job name, labels, kinds).

Every rule and dashboard query is checked by `promql.check` against `flux_catalog()`, the table of
the metrics and labels that really exist.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Self, get_args

import pulumi
import pulumi_kubernetes as k8s
import pydantic
import yaml
from pydantic import AfterValidator, BeforeValidator, Field

from gitops_sdk.api.release import CONTROLLERS, FluxController
from gitops_sdk.core.base import FluxModel, Invalid
from gitops_sdk.core.fields import Name, Namespace
from gitops_sdk.core.model import FILLED
from gitops_sdk.services.promql import MetricCatalog, MetricInfo, check, check_template_labels

__all__ = [
    "FLUX_CONTROLLERS",
    "FLUX_KINDS",
    "AlertRule",
    "Dashboard",
    "FluxAlertRules",
    "FluxAlertRulesArgs",
    "FluxController",
    "FluxDashboard",
    "FluxDashboardArgs",
    "FluxKind",
    "FluxMonitoring",
    "FluxMonitoringArgs",
    "FluxPodMonitor",
    "FluxPodMonitorArgs",
    "FluxRuleSettings",
    "FluxStateMetrics",
    "FluxStateMetricsArgs",
    "Panel",
    "RuleGroup",
    "RuleSettings",
    "SlowRuleSettings",
    "Target",
    "Threshold",
    "Variable",
    "flux_alert_rules",
    "flux_catalog",
    "flux_dashboard",
]

MONITORING_API_VERSION = "monitoring.coreos.com/v1"

# --- facts (reference §9) ------------------------------------------------------------------------

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
class _KindState:
    group: str
    version: str
    plural: str
    labels: Mapping[str, tuple[str, ...]]
    """Kind-specific labels and the path of the field each is read from."""
    has_status: bool = True
    """Whether the kind has status conditions (so a `ready` label) and a reconciler."""


_SOURCE = "source.toolkit.fluxcd.io"
_REVISION = ("status", "artifact", "revision")
_KIND_STATE: dict[FluxKind, _KindState] = {
    "GitRepository": _KindState(
        _SOURCE, "v1", "gitrepositories", {"revision": _REVISION, "url": ("spec", "url")}
    ),
    "OCIRepository": _KindState(
        _SOURCE, "v1", "ocirepositories", {"revision": _REVISION, "url": ("spec", "url")}
    ),
    "HelmRepository": _KindState(
        _SOURCE, "v1", "helmrepositories", {"revision": _REVISION, "url": ("spec", "url")}
    ),
    "HelmChart": _KindState(
        _SOURCE,
        "v1",
        "helmcharts",
        {
            "revision": _REVISION,
            "chart_name": ("spec", "chart"),
            "chart_version": ("spec", "version"),
        },
    ),
    "Bucket": _KindState(
        _SOURCE,
        "v1",
        "buckets",
        {
            "revision": _REVISION,
            "endpoint": ("spec", "endpoint"),
            "bucket_name": ("spec", "bucketName"),
        },
    ),
    "Kustomization": _KindState(
        "kustomize.toolkit.fluxcd.io",
        "v1",
        "kustomizations",
        {
            "revision": ("status", "lastAppliedRevision"),
            "source_name": ("spec", "sourceRef", "name"),
        },
    ),
    "HelmRelease": _KindState(
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
    "ImageRepository": _KindState(
        "image.toolkit.fluxcd.io", "v1", "imagerepositories", {"image": ("spec", "image")}
    ),
    "ImagePolicy": _KindState(
        "image.toolkit.fluxcd.io",
        "v1",
        "imagepolicies",
        {"source_name": ("spec", "imageRepositoryRef", "name")},
    ),
    "ImageUpdateAutomation": _KindState(
        "image.toolkit.fluxcd.io",
        "v1",
        "imageupdateautomations",
        {"source_name": ("spec", "sourceRef", "name")},
    ),
    "Receiver": _KindState(
        "notification.toolkit.fluxcd.io",
        "v1",
        "receivers",
        {"webhook_path": ("status", "webhookPath")},
    ),
    "Alert": _KindState("notification.toolkit.fluxcd.io", "v1beta3", "alerts", {}, False),
    "Provider": _KindState("notification.toolkit.fluxcd.io", "v1beta3", "providers", {}, False),
}

RECONCILED_KINDS: tuple[FluxKind, ...] = tuple(k for k in FLUX_KINDS if _KIND_STATE[k].has_status)
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
    states = [_KIND_STATE[k] for k in kinds]
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


# --- field types ---------------------------------------------------------------------------------

_PROM_DURATION = re.compile(
    r"^(?:[0-9]+y)?(?:[0-9]+w)?(?:[0-9]+d)?(?:[0-9]+h)?(?:[0-9]+m)?"
    r"(?:[0-9]+s)?(?:[0-9]+ms)?$"
)


def prom_duration(value: datetime.timedelta) -> str:
    """A timedelta in Prometheus' duration syntax (`1h30m`, `90s` -> `1m30s`)."""
    ms = round(value.total_seconds() * 1000)
    if ms <= 0:
        raise ValueError(f"duration must be positive, got {value}")
    out = ""
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        count, ms = divmod(ms, size)
        out += f"{count}{unit}" if count else ""
    return out + (f"{ms}ms" if ms else "")


def _from_timedelta(value: Any) -> Any:
    return prom_duration(value) if isinstance(value, datetime.timedelta) else value


def _check_prom_duration(value: str) -> str:
    if not value or value == "0" or not _PROM_DURATION.match(value):
        raise ValueError(
            "is not a Prometheus duration (expected units in the order y, w, d, h, m, s, ms, "
            "e.g. '30s', '5m', '1h30m')"
        )
    return value


PromDuration = Annotated[
    str, BeforeValidator(_from_timedelta), AfterValidator(_check_prom_duration)
]
"""A Prometheus duration such as `30s`, `10m` or `1h30m` (or a timedelta)."""


def _unique(what: str) -> AfterValidator:
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


class _Args(FluxModel):
    """Base of the module's argument and settings models: frozen, unknown keys rejected,
    camelCase or snake_case keys accepted (so stack config can be passed as is)."""


# --- PodMonitor ----------------------------------------------------------------------------------


class FluxPodMonitorArgs(_Args):
    """A PodMonitor scraping the Flux controllers' `http-prom` port."""

    name: Name = "flux-system"
    """Name of the PodMonitor; the Prometheus Operator names the scrape job `<namespace>/<name>`."""
    namespace: Name = "flux-system"
    """Namespace of the PodMonitor and of the controller pods."""
    controllers: Annotated[list[FluxController], _unique("controller")] = list(FLUX_CONTROLLERS)
    """Controllers to scrape (their pods' `app` label); default: all six."""
    port: str = "http-prom"
    """Container port name of the metrics endpoint."""
    interval: PromDuration | None = None
    """Scrape interval; default: Prometheus' global interval."""
    honor_labels: bool = False
    """Keep the controllers' `namespace` label as is (default: it becomes `exported_namespace`)."""
    labels: dict[str, str] = {
        "app.kubernetes.io/part-of": "flux",
        "app.kubernetes.io/component": "monitoring",
    }
    """Labels of the PodMonitor, e.g. what the Prometheus `podMonitorSelector` matches."""

    @property
    def job(self) -> str:
        """The `job` label of the scraped series."""
        return f"{self.namespace}/{self.name}"

    def to_manifest(self) -> dict[str, Any]:
        """The PodMonitor manifest."""
        endpoint: dict[str, Any] = {
            "port": self.port,
            # Completed or failed pods would otherwise count as down targets.
            "relabelings": [
                {
                    "sourceLabels": ["__meta_kubernetes_pod_phase"],
                    "action": "keep",
                    "regex": "Running",
                }
            ],
        }
        if self.interval:
            endpoint["interval"] = self.interval
        if self.honor_labels:
            endpoint["honorLabels"] = True
        return {
            "apiVersion": MONITORING_API_VERSION,
            "kind": "PodMonitor",
            "metadata": _metadata(self.name, self.namespace, self.labels),
            "spec": {
                "namespaceSelector": {"matchNames": [self.namespace]},
                "selector": {
                    "matchExpressions": [
                        {"key": "app", "operator": "In", "values": list(self.controllers)}
                    ]
                },
                "podMetricsEndpoints": [endpoint],
            },
        }


def _metadata(name: str, namespace: str, labels: Mapping[str, str]) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if labels:
        meta["labels"] = dict(labels)
    return meta


def _custom_resource(
    name: str, manifest: Mapping[str, Any], opts: pulumi.ResourceOptions
) -> k8s.apiextensions.CustomResource:
    return k8s.apiextensions.CustomResource(
        name,
        api_version=manifest["apiVersion"],
        kind=manifest["kind"],
        metadata=manifest["metadata"],
        spec=manifest["spec"],
        opts=opts,
    )


class FluxPodMonitor(pulumi.ComponentResource):
    """The PodMonitor for the Flux controllers."""

    pod_monitor: k8s.apiextensions.CustomResource
    job: str
    """The scrape job's name, as the `job` label of every series."""

    def __init__(
        self,
        name: str,
        args: FluxPodMonitorArgs | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        args = args or FluxPodMonitorArgs()
        manifest = args.to_manifest()
        super().__init__("gitops:monitoring:FluxPodMonitor", name, None, opts)
        self.job = args.job
        self.pod_monitor = _custom_resource(
            f"{name}-podmonitor", manifest, pulumi.ResourceOptions(parent=self)
        )
        self.register_outputs({"job": self.job})


# --- kube-state-metrics Custom Resource State ----------------------------------------------------


class FluxStateMetricsArgs(_Args):
    """kube-state-metrics settings producing `gotk_resource_info` for the given Flux kinds."""

    name: Name = "flux-kube-state-metrics-config"
    """Name of the ConfigMap; the kube-prometheus-stack HelmRelease lists it in `valuesFrom`."""
    namespace: Namespace = "monitoring"
    """Namespace of the ConfigMap: the HelmRelease's own (valuesFrom is namespace-local)."""
    kinds: Annotated[list[FluxKind], _unique("kind")] = list(FLUX_KINDS)
    """Flux kinds to report; default: all."""
    values_key: str = "kube-state-metrics-config.yaml"
    """Key of the values in the ConfigMap (`valuesFrom[].valuesKey`)."""
    chart: Literal["kube-prometheus-stack", "kube-state-metrics"] = "kube-prometheus-stack"
    """Chart the values are for: nested under `kube-state-metrics:` for kube-prometheus-stack."""
    custom_resource_state_only: bool = False
    """Report only Flux objects (a dedicated kube-state-metrics); default: keep the others."""
    labels: dict[str, str] = {}
    """Extra labels of the ConfigMap."""

    def custom_resource_state(self) -> dict[str, Any]:
        """The `CustomResourceStateMetrics` configuration."""
        resources = []
        for kind in self.kinds:
            state = _KIND_STATE[kind]
            labels: dict[str, list[str]] = {"exported_namespace": ["metadata", "namespace"]}
            if state.has_status:
                labels["ready"] = ["status", "conditions", "[type=Ready]", "status"]
            labels["suspended"] = ["spec", "suspend"]
            labels.update({k: list(v) for k, v in state.labels.items()})
            resources.append(
                {
                    "groupVersionKind": {
                        "group": state.group,
                        "version": state.version,
                        "kind": kind,
                    },
                    "metricNamePrefix": "gotk",
                    "metrics": [
                        {
                            "name": "resource_info",
                            "help": f"The current state of a Flux {kind} resource.",
                            "each": {
                                "type": "Info",
                                "info": {"labelsFromPath": {"name": ["metadata", "name"]}},
                            },
                            "labelsFromPath": labels,
                        }
                    ],
                }
            )
        return {"kind": "CustomResourceStateMetrics", "spec": {"resources": resources}}

    def rbac_rules(self) -> list[dict[str, Any]]:
        """ClusterRole rules letting kube-state-metrics list and watch the kinds."""
        groups: dict[str, list[str]] = {}
        for kind in self.kinds:
            state = _KIND_STATE[kind]
            groups.setdefault(state.group, []).append(state.plural)
        return [
            {"apiGroups": [group], "resources": plurals, "verbs": ["list", "watch"]}
            for group, plurals in groups.items()
        ]

    def helm_values(self) -> dict[str, Any]:
        """The values fragment for the chart."""
        values: dict[str, Any] = {
            "rbac": {"extraRules": self.rbac_rules()},
            "customResourceState": {"enabled": True, "config": self.custom_resource_state()},
        }
        if self.custom_resource_state_only:
            values["collectors"] = []
            values["extraArgs"] = ["--custom-resource-state-only=true"]
        if self.chart == "kube-prometheus-stack":
            return {"kube-state-metrics": values}
        return values

    def values_from(self) -> dict[str, str]:
        """The HelmRelease `spec.valuesFrom` entry that merges these values."""
        return {"kind": "ConfigMap", "name": self.name, "valuesKey": self.values_key}

    def to_manifest(self) -> dict[str, Any]:
        """The ConfigMap manifest."""
        labels = {**self.labels, "reconcile.fluxcd.io/watch": "Enabled"}
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _metadata(self.name, self.namespace, labels),
            "data": {self.values_key: yaml.safe_dump(self.helm_values(), sort_keys=False)},
        }


def _config_map(
    name: str, manifest: Mapping[str, Any], opts: pulumi.ResourceOptions
) -> k8s.core.v1.ConfigMap:
    return k8s.core.v1.ConfigMap(
        name, metadata=manifest["metadata"], data=manifest["data"], opts=opts
    )


class FluxStateMetrics(pulumi.ComponentResource):
    """The ConfigMap of kube-prometheus-stack values that makes kube-state-metrics export
    `gotk_resource_info` for Flux objects."""

    config_map: k8s.core.v1.ConfigMap
    values_from: dict[str, str]
    """The entry to add to the kube-prometheus-stack HelmRelease's `spec.valuesFrom`."""

    def __init__(
        self,
        name: str,
        args: FluxStateMetricsArgs | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        args = args or FluxStateMetricsArgs()
        manifest = args.to_manifest()
        super().__init__("gitops:monitoring:FluxStateMetrics", name, None, opts)
        self.values_from = args.values_from()
        self.config_map = _config_map(
            f"{name}-config", manifest, pulumi.ResourceOptions(parent=self)
        )
        self.register_outputs({"valuesFrom": self.values_from})


# --- PrometheusRule ------------------------------------------------------------------------------

Severity = Literal["none", "info", "warning", "critical"]
"""Alert severity label, as kube-prometheus-stack's Alertmanager routes use it."""

_ALERT_NAME = re.compile(r"^[A-Za-z_:][A-Za-z0-9_:]*$")


def _check_alert_name(value: str) -> str:
    if not _ALERT_NAME.match(value):
        raise ValueError("is not an alert name (letters, digits, '_' and ':'; e.g. 'FluxDown')")
    return value


class AlertRule(_Args):
    """One alerting rule; its expression is parsed when the rule is made."""

    alert: Annotated[str, AfterValidator(_check_alert_name)]
    """Name of the alert, e.g. `FluxReconciliationFailure`."""
    expr: str
    """PromQL expression; every result series is a firing alert."""
    for_: PromDuration | None = Field(default=None, alias="for")
    """How long the expression must hold before the alert fires; default: at once."""
    keep_firing_for: PromDuration | None = None
    """How long the alert keeps firing after the expression stops holding."""
    labels: dict[str, str] = {}
    """Labels added to the alert, e.g. `severity`."""
    annotations: dict[str, str] = {}
    """Annotations, e.g. `summary` and `description` (Go templates over `$labels`)."""

    @pydantic.model_validator(mode="after")
    def _parses(self) -> Self:
        check(self.expr, where=f"alert {self.alert!r}: expr")
        return self

    def check(self, catalog: MetricCatalog, *, where: str = "") -> None:
        """Check the expression's metrics and labels, and the labels annotations name."""
        at = f"{where} alert {self.alert!r}".strip()
        checked = check(self.expr, catalog, where=f"{at}: expr")
        for key, text in self.annotations.items():
            check_template_labels(
                text, checked.labels, style="alert", where=f"{at}: annotation {key!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        """The rule as the PrometheusRule spec lists it."""
        out: dict[str, Any] = {"alert": self.alert, "expr": self.expr}
        if self.for_:
            out["for"] = self.for_
        if self.keep_firing_for:
            out["keep_firing_for"] = self.keep_firing_for
        if self.labels:
            out["labels"] = dict(self.labels)
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out


class RuleGroup(_Args):
    """A group of rules evaluated together."""

    name: str
    """Group name, unique in the PrometheusRule."""
    interval: PromDuration | None = None
    """Evaluation interval; default: Prometheus' global one."""
    rules: Annotated[list[AlertRule], Field(min_length=1)]
    """The rules."""

    @pydantic.model_validator(mode="after")
    def _unique_alerts(self) -> Self:
        first: dict[str, int] = {}
        for i, rule in enumerate(self.rules):
            if rule.alert in first:
                raise Invalid(
                    f"rules[{i}].alert",
                    rule.alert,
                    f"is the name of rules[{first[rule.alert]}] too; alert names must be unique "
                    "in a group",
                )
            first[rule.alert] = i
        return self

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.interval:
            out["interval"] = self.interval
        out["rules"] = [r.to_dict() for r in self.rules]
        return out


class RuleSettings(_Args):
    """Severity and `for` duration of one of the Flux alerts."""

    enabled: bool = True
    """Render the rule."""
    severity: Severity
    """`severity` label of the alert."""
    for_: PromDuration = Field(alias="for")
    """How long the condition must hold before the alert fires."""


class SlowRuleSettings(RuleSettings):
    """Settings of the slow-reconciliation alert."""

    quantile: Annotated[float, Field(gt=0, lt=1)] = 0.99
    """Quantile of `gotk_reconcile_duration_seconds` compared with the threshold."""
    threshold_seconds: Annotated[float, Field(gt=0)] = 300
    """Reconciliations slower than this (at the quantile) alert."""
    window: PromDuration = "10m"
    """Rate window of the histogram."""


_PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    # Production pages: failures and a dead controller wake someone up.
    "production": {
        "failing": {"severity": "critical", "for": "10m"},
        "suspended": {"severity": "warning", "for": "5m"},
        "slow": {"severity": "warning", "for": "15m"},
        "controller_down": {"severity": "critical", "for": "5m"},
    },
    # Staging only warns: things break there on purpose.
    "staging": {
        "failing": {"severity": "warning", "for": "10m"},
        "suspended": {"severity": "info", "for": "5m"},
        "slow": {"severity": "warning", "for": "15m"},
        "controller_down": {"severity": "warning", "for": "5m"},
    },
}


class FluxRuleSettings(_Args):
    """What the Flux alerts fire on and how loud they are. `preset` (`staging` warns,
    `production` pages) fills the settings that are not given."""

    preset: Literal["staging", "production"] = "production"
    """Defaults for the rules below."""
    failing: RuleSettings = FILLED
    """A Flux object not ready (reconciliation failing)."""
    suspended: RuleSettings = FILLED
    """A Flux object suspended."""
    slow: SlowRuleSettings = FILLED
    """Reconciliations slower than a threshold."""
    controller_down: RuleSettings = FILLED
    """A controller not scraped, or no controller target at all."""
    rule_labels: dict[str, str] = {}
    """Labels added to every alert, e.g. `cluster: kubestaging`."""
    extra_rules: list[AlertRule] = []
    """More rules for the same group, checked like the built-in ones."""

    @pydantic.model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        names = {info.alias or f: f for f, info in cls.model_fields.items()}
        given = {names.get(k, k): v for k, v in data.items()}
        preset = given.get("preset", "production")
        # An unknown preset is reported by the Literal check; production fills the rest meanwhile.
        defaults = _PRESETS.get(preset if isinstance(preset, str) else "", _PRESETS["production"])
        for rule, values in defaults.items():
            mine = given.get(rule)
            if mine is None:
                given[rule] = dict(values)
            elif isinstance(mine, dict):
                mine = {"for" if k == "for_" else k: v for k, v in mine.items()}
                given[rule] = {**values, **mine}
        return given

    @classmethod
    def for_environment(cls, environment: Literal["staging", "production"], **changes: Any) -> Self:
        """The preset for `environment`, with `changes` (e.g. `failing={"for": "15m"}`)."""
        return cls(preset=environment, **changes)


def _kind_regex(kinds: Sequence[str]) -> str:
    return "|".join(kinds)


def flux_alert_rules(
    settings: FluxRuleSettings,
    *,
    job: str = "flux-system/flux-system",
    kinds: Sequence[FluxKind] = FLUX_KINDS,
    honor_labels: bool = False,
) -> RuleGroup:
    """The Flux rule group: failing and suspended objects (from `gotk_resource_info`), slow
    reconciliations (from the duration histogram) and controllers that are down."""
    object_ns = object_namespace_label(honor_labels)
    reconciled = [k for k in kinds if k in RECONCILED_KINDS]
    by_object = "customresource_kind, exported_namespace, name"
    rules: list[AlertRule] = []

    def add(rule: RuleSettings, alert: str, expr: str, summary: str, description: str) -> None:
        if not rule.enabled:
            return
        rules.append(
            AlertRule(
                alert=alert,
                expr=expr,
                for_=rule.for_,
                labels={**settings.rule_labels, "severity": rule.severity},
                annotations={"summary": summary, "description": description},
            )
        )

    obj = "{{ $labels.customresource_kind }} {{ $labels.exported_namespace }}/{{ $labels.name }}"
    # kube-state-metrics reports only the configured kinds: filter only for a narrower list.
    narrower = set(kinds) != set(FLUX_KINDS)
    kind_filter = f', customresource_kind=~"{_kind_regex(kinds)}"' if narrower else ""
    if reconciled:
        add(
            settings.failing,
            "FluxReconciliationFailure",
            f"max by ({by_object}) "
            f'(gotk_resource_info{{ready="False", suspended!="true"{kind_filter}}}) > 0',
            f"{obj} is not ready",
            f"{obj} has been failing to reconcile for more than {settings.failing.for_}.",
        )
    add(
        settings.suspended,
        "FluxResourceSuspended",
        f'max by ({by_object}) (gotk_resource_info{{suspended="true"{kind_filter}}}) > 0',
        f"{obj} is suspended",
        f"{obj} has been suspended for more than {settings.suspended.for_}; "
        "Flux does not apply changes to it.",
    )
    slow = settings.slow
    if reconciled:
        dur = "{{ $labels.kind }} {{ $labels." + object_ns + " }}/{{ $labels.name }}"
        selector = (
            f'{{kind=~"{_kind_regex(reconciled)}"}}'
            if set(reconciled) != set(RECONCILED_KINDS)
            else ""
        )
        add(
            slow,
            "FluxReconciliationSlow",
            f"histogram_quantile({slow.quantile:g}, sum by (kind, {object_ns}, name, le) "
            f"(rate(gotk_reconcile_duration_seconds_bucket{selector}[{slow.window}]))) "
            f"> {slow.threshold_seconds:g}",
            f"{dur} reconciles slowly",
            f"The p{slow.quantile * 100:g} reconciliation time of {dur} has been above "
            f"{slow.threshold_seconds:g}s for more than {slow.for_}.",
        )
    add(
        settings.controller_down,
        "FluxControllerDown",
        f'up{{job="{job}"}} == 0 or absent(up{{job="{job}"}})',
        "A Flux controller is down",
        f"Prometheus cannot scrape {{{{ $labels.pod }}}} of job {job} (or finds no Flux "
        f"controller at all) for more than {settings.controller_down.for_}.",
    )
    rules.extend(settings.extra_rules)
    return RuleGroup(name="flux", rules=rules)


class FluxAlertRulesArgs(_Args):
    """A PrometheusRule with the Flux alerts."""

    name: Name = "flux"
    """Name of the PrometheusRule."""
    namespace: Namespace = "monitoring"
    """Namespace of the PrometheusRule."""
    labels: dict[str, str] = {}
    """Labels of the PrometheusRule, e.g. what the Prometheus `ruleSelector` matches."""
    job: str = "flux-system/flux-system"
    """The controllers' scrape job (`FluxPodMonitorArgs.job`)."""
    honor_labels: bool = False
    """Whether that scrape honors the controllers' labels (`FluxPodMonitorArgs.honor_labels`)."""
    kinds: Annotated[list[FluxKind], _unique("kind")] = list(FLUX_KINDS)
    """Flux kinds to alert on (those kube-state-metrics reports)."""
    rules: FluxRuleSettings = FluxRuleSettings()
    """Severities, durations and thresholds."""

    def group(self) -> RuleGroup:
        """The rule group, checked against `flux_catalog()`."""
        group = flux_alert_rules(
            self.rules, job=self.job, kinds=self.kinds, honor_labels=self.honor_labels
        )
        catalog = flux_catalog(self.kinds, honor_labels=self.honor_labels)
        for rule in group.rules:
            rule.check(catalog, where=f"PrometheusRule {self.namespace}/{self.name}")
        return group

    def to_manifest(self) -> dict[str, Any]:
        """The PrometheusRule manifest."""
        return {
            "apiVersion": MONITORING_API_VERSION,
            "kind": "PrometheusRule",
            "metadata": _metadata(self.name, self.namespace, self.labels),
            "spec": {"groups": [self.group().to_dict()]},
        }


class FluxAlertRules(pulumi.ComponentResource):
    """The PrometheusRule with the Flux alerts, every expression checked first."""

    rule: k8s.apiextensions.CustomResource
    alerts: list[str]
    """Names of the alerts rendered."""

    def __init__(
        self,
        name: str,
        args: FluxAlertRulesArgs | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        args = args or FluxAlertRulesArgs()
        manifest = args.to_manifest()
        super().__init__("gitops:monitoring:FluxAlertRules", name, None, opts)
        self.alerts = [r["alert"] for r in manifest["spec"]["groups"][0]["rules"]]
        self.rule = _custom_resource(
            f"{name}-prometheusrule", manifest, pulumi.ResourceOptions(parent=self)
        )
        self.register_outputs({"alerts": self.alerts})


# --- Grafana dashboard ---------------------------------------------------------------------------


class Target(_Args):
    """One query of a panel."""

    expr: str
    """PromQL; Grafana variables (`$namespace`, `$__rate_interval`) are allowed."""
    legend: str | None = None
    """Legend template, e.g. `{{kind}}`; its labels must exist on the result."""
    instant: bool = False
    """Query only the latest value (tables, stats)."""
    table: bool = False
    """Return a table instead of time series."""


class Threshold(_Args):
    """A colour step: from `value` up (None: from minus infinity)."""

    value: float | None = None
    color: str


class Panel(_Args):
    """A dashboard panel; panels flow left to right on a 24-column grid."""

    title: str
    kind: Literal["stat", "timeseries", "table", "bargauge"]
    """Grafana panel type."""
    targets: Annotated[list[Target], Field(min_length=1)]
    width: Annotated[int, Field(ge=1, le=24)] = 12
    height: Annotated[int, Field(ge=1)] = 8
    unit: str | None = None
    """Grafana unit, e.g. `s`, `short`."""
    description: str | None = None
    thresholds: list[Threshold] = []
    """Colour steps (stats and bar gauges)."""


_VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _check_variable_name(value: str) -> str:
    if not _VARIABLE_NAME.match(value) or value.startswith("__"):
        raise ValueError("is not a variable name (letters, digits and '_', not starting '__')")
    return value


class Variable(_Args):
    """A dashboard variable listing the values of one label: `label_values(metric, label)`."""

    name: Annotated[str, AfterValidator(_check_variable_name)]
    label: str
    """What the variable is called on screen."""
    metric: str
    label_name: str
    multi: bool = True
    include_all: bool = True


def _check_uid(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", value):
        raise ValueError("is not a dashboard uid (1 to 40 letters, digits, '-' and '_')")
    return value


class Dashboard(_Args):
    """A Grafana dashboard on a Prometheus data source chosen with the `datasource` variable."""

    title: str
    uid: Annotated[str, AfterValidator(_check_uid)]
    tags: list[str] = []
    refresh: str = "1m"
    time_from: str = "now-6h"
    variables: list[Variable] = []
    panels: Annotated[list[Panel], Field(min_length=1)]

    def queries(self) -> list[str]:
        """Every panel query."""
        return [t.expr for p in self.panels for t in p.targets]

    def check(self, catalog: MetricCatalog) -> None:
        """Check every query and legend against `catalog` (and the variables' metric/label)."""
        for var in self.variables:
            check(
                f'{var.metric}{{{var.label_name}!=""}}',
                catalog,
                where=f"dashboard {self.uid!r} variable {var.name!r}",
            )
        for panel in self.panels:
            for i, target in enumerate(panel.targets):
                where = f"dashboard {self.uid!r} panel {panel.title!r} query {i + 1}"
                checked = check(target.expr, catalog, where=where, grafana=True)
                if target.legend:
                    check_template_labels(
                        target.legend, checked.labels, style="legend", where=f"{where} legend"
                    )

    def to_json(self) -> dict[str, Any]:
        """The dashboard JSON model Grafana's sidecar loads."""
        datasource = {"type": "prometheus", "uid": "${datasource}"}
        templating: list[dict[str, Any]] = [
            {
                "name": "datasource",
                "label": "Data source",
                "type": "datasource",
                "query": "prometheus",
                "current": {},
                "hide": 0,
            }
        ]
        for var in self.variables:
            query = f"label_values({var.metric}, {var.label_name})"
            templating.append(
                {
                    "name": var.name,
                    "label": var.label,
                    "type": "query",
                    "datasource": datasource,
                    "query": {"query": query, "refId": f"var-{var.name}"},
                    "definition": query,
                    "refresh": 2,
                    "multi": var.multi,
                    "includeAll": var.include_all,
                    "allValue": ".*" if var.include_all else None,
                    "current": {},
                    "sort": 1,
                    "hide": 0,
                }
            )
        panels = []
        x = y = row_height = 0
        for index, panel in enumerate(self.panels, start=1):
            if x + panel.width > 24:
                x, y, row_height = 0, y + row_height, 0
            panels.append(self._panel_json(panel, index, datasource, x, y))
            x += panel.width
            row_height = max(row_height, panel.height)
        return {
            "uid": self.uid,
            "title": self.title,
            "tags": list(self.tags),
            "editable": False,
            "schemaVersion": 39,
            "refresh": self.refresh,
            "time": {"from": self.time_from, "to": "now"},
            "timezone": "browser",
            "templating": {"list": templating},
            "annotations": {"list": []},
            "panels": panels,
        }

    @staticmethod
    def _panel_json(
        panel: Panel, index: int, datasource: dict[str, str], x: int, y: int
    ) -> dict[str, Any]:
        targets = []
        for i, t in enumerate(panel.targets):
            target: dict[str, Any] = {
                "refId": chr(ord("A") + i),
                "datasource": datasource,
                "expr": t.expr,
                "instant": t.instant,
                "range": not t.instant,
                "format": "table" if t.table else "time_series",
            }
            if t.legend:
                target["legendFormat"] = t.legend
            targets.append(target)
        defaults: dict[str, Any] = {}
        if panel.unit:
            defaults["unit"] = panel.unit
        if panel.thresholds:
            defaults["thresholds"] = {
                "mode": "absolute",
                "steps": [{"value": s.value, "color": s.color} for s in panel.thresholds],
            }
        out: dict[str, Any] = {
            "id": index,
            "type": panel.kind,
            "title": panel.title,
            "datasource": datasource,
            "gridPos": {"x": x, "y": y, "w": panel.width, "h": panel.height},
            "targets": targets,
            "fieldConfig": {"defaults": defaults, "overrides": []},
            "options": {},
        }
        if panel.description:
            out["description"] = panel.description
        return out


def flux_dashboard(
    *,
    title: str = "Flux",
    uid: str = "flux-gitops",
    job: str = "flux-system/flux-system",
    honor_labels: bool = False,
) -> Dashboard:
    """The Flux dashboard: object status, failures per kind and namespace, reconciliation rates
    and durations, controller health. Filtered by the `namespace` and `kind` variables."""
    ns = object_namespace_label(honor_labels)
    info = 'gotk_resource_info{exported_namespace=~"$namespace", customresource_kind=~"$kind"'
    dur = f'{ns}=~"$namespace", kind=~"$kind"'
    rate = "[$__rate_interval]"
    green_red = [Threshold(color="green"), Threshold(value=1, color="red")]
    p99 = (
        "histogram_quantile(0.99, sum by ({by}, le) "
        "(rate(gotk_reconcile_duration_seconds_bucket{{{sel}}}{rate})))"
    )
    panels = [
        Panel(
            title="Flux objects",
            kind="stat",
            width=6,
            height=4,
            targets=[Target(expr=f"count({info}}})", instant=True)],
        ),
        Panel(
            title="Not ready",
            kind="stat",
            width=6,
            height=4,
            thresholds=green_red,
            targets=[Target(expr=f'count({info}, ready="False"}}) or vector(0)', instant=True)],
        ),
        Panel(
            title="Suspended",
            kind="stat",
            width=6,
            height=4,
            thresholds=[Threshold(color="green"), Threshold(value=1, color="orange")],
            targets=[Target(expr=f'count({info}, suspended="true"}}) or vector(0)', instant=True)],
        ),
        Panel(
            title="Controllers up",
            kind="stat",
            width=6,
            height=4,
            targets=[Target(expr=f'sum(up{{job="{job}"}})', instant=True)],
        ),
        Panel(
            title="Reconciliation status",
            kind="table",
            width=24,
            description="Every Flux object with its readiness, suspension and revision.",
            targets=[Target(expr=info + "}", instant=True, table=True)],
        ),
        Panel(
            title="Failing objects per kind",
            kind="timeseries",
            targets=[
                Target(
                    expr=f'count by (customresource_kind) ({info}, ready="False"}})',
                    legend="{{customresource_kind}}",
                )
            ],
        ),
        Panel(
            title="Failing objects per namespace",
            kind="timeseries",
            targets=[
                Target(
                    expr=f'count by (exported_namespace) ({info}, ready="False"}})',
                    legend="{{exported_namespace}}",
                )
            ],
        ),
        Panel(
            title="Reconciliation duration p99 per kind",
            kind="timeseries",
            unit="s",
            targets=[Target(expr=p99.format(by="kind", sel=dur, rate=rate), legend="{{kind}}")],
        ),
        Panel(
            title="Reconciliation duration p99 per namespace",
            kind="timeseries",
            unit="s",
            targets=[Target(expr=p99.format(by=ns, sel=dur, rate=rate), legend=f"{{{{{ns}}}}}")],
        ),
        Panel(
            title="Reconciliations per kind",
            kind="timeseries",
            unit="ops",
            targets=[
                Target(
                    expr=f"sum by (kind) (rate(gotk_reconcile_duration_seconds_count{{{dur}}}"
                    f"{rate}))",
                    legend="{{kind}}",
                )
            ],
        ),
        Panel(
            title="Reconcile errors per controller",
            kind="timeseries",
            unit="ops",
            targets=[
                Target(
                    expr='sum by (controller) (rate(controller_runtime_reconcile_total{job="'
                    + job
                    + '", result="error"}'
                    + rate
                    + "))",
                    legend="{{controller}}",
                )
            ],
        ),
    ]
    return Dashboard(
        title=title,
        uid=uid,
        tags=["flux", "gitops"],
        variables=[
            Variable(
                name="namespace",
                label="Namespace",
                metric="gotk_resource_info",
                label_name="exported_namespace",
            ),
            Variable(
                name="kind",
                label="Kind",
                metric="gotk_resource_info",
                label_name="customresource_kind",
            ),
        ],
        panels=panels,
    )


class FluxDashboardArgs(_Args):
    """The Grafana dashboard ConfigMap, picked up by the Grafana sidecar."""

    name: Name = "flux-dashboard"
    """Name of the ConfigMap."""
    namespace: Namespace = "monitoring"
    """Namespace the Grafana sidecar watches."""
    title: str = "Flux"
    uid: Annotated[str, AfterValidator(_check_uid)] = "flux-gitops"
    folder: str | None = None
    """Grafana folder (the sidecar's `grafana_folder` annotation); default: the sidecar's."""
    job: str = "flux-system/flux-system"
    """The controllers' scrape job (`FluxPodMonitorArgs.job`)."""
    honor_labels: bool = False
    """Whether that scrape honors the controllers' labels."""
    kinds: Annotated[list[FluxKind], _unique("kind")] = list(FLUX_KINDS)
    """Flux kinds kube-state-metrics reports (queries are checked against them)."""
    labels: dict[str, str] = {}
    """Extra labels of the ConfigMap."""

    def dashboard(self) -> Dashboard:
        """The dashboard, every query checked against `flux_catalog()`."""
        board = flux_dashboard(
            title=self.title, uid=self.uid, job=self.job, honor_labels=self.honor_labels
        )
        board.check(flux_catalog(self.kinds, honor_labels=self.honor_labels))
        return board

    def to_manifest(self) -> dict[str, Any]:
        """The ConfigMap manifest."""
        meta = _metadata(self.name, self.namespace, {**self.labels, "grafana_dashboard": "1"})
        if self.folder:
            meta["annotations"] = {"grafana_folder": self.folder}
        body = json.dumps(self.dashboard().to_json(), indent=2, sort_keys=True)
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": meta,
            "data": {f"{self.uid}.json": body},
        }


class FluxDashboard(pulumi.ComponentResource):
    """The Flux Grafana dashboard as a ConfigMap."""

    config_map: k8s.core.v1.ConfigMap

    def __init__(
        self,
        name: str,
        args: FluxDashboardArgs | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        args = args or FluxDashboardArgs()
        manifest = args.to_manifest()
        super().__init__("gitops:monitoring:FluxDashboard", name, None, opts)
        self.config_map = _config_map(
            f"{name}-dashboard", manifest, pulumi.ResourceOptions(parent=self)
        )
        self.register_outputs({"uid": args.uid})


# --- everything together -------------------------------------------------------------------------


class DashboardSettings(_Args):
    """The dashboard part of `gitops:monitoring`."""

    enabled: bool = True
    title: str = "Flux"
    uid: Annotated[str, AfterValidator(_check_uid)] = "flux-gitops"
    folder: str | None = None


class StateMetricsSettings(_Args):
    """The kube-state-metrics part of `gitops:monitoring`."""

    enabled: bool = True
    name: Name = "flux-kube-state-metrics-config"
    values_key: str = "kube-state-metrics-config.yaml"
    chart: Literal["kube-prometheus-stack", "kube-state-metrics"] = "kube-prometheus-stack"
    custom_resource_state_only: bool = False


class FluxMonitoringArgs(_Args):
    """Everything `FluxMonitoring` renders; also the schema of `gitops:monitoring`."""

    namespace: Namespace = "monitoring"
    """Namespace of the PrometheusRule and the ConfigMaps (kube-prometheus-stack's)."""
    flux_namespace: Namespace = "flux-system"
    """Namespace of the Flux controllers (and of the PodMonitor)."""
    kinds: Annotated[list[FluxKind], _unique("kind")] = list(FLUX_KINDS)
    """Flux kinds to report, alert on and chart."""
    controllers: Annotated[list[FluxController], _unique("controller")] = list(FLUX_CONTROLLERS)
    """Controllers to scrape."""
    scrape_interval: PromDuration | None = None
    """PodMonitor scrape interval; default: Prometheus' global one."""
    honor_labels: bool = False
    """Keep the controllers' own `namespace` label (default: renamed `exported_namespace`)."""
    labels: dict[str, str] = {}
    """Labels for the Prometheus Operator selectors (PodMonitor, PrometheusRule), e.g.
    `release: kube-prometheus-stack`."""
    rules: FluxRuleSettings = FluxRuleSettings()
    """Alert severities, durations and thresholds (`preset: staging|production`)."""
    dashboard: DashboardSettings = DashboardSettings()
    state_metrics: StateMetricsSettings = StateMetricsSettings()

    def pod_monitor(self) -> FluxPodMonitorArgs:
        return FluxPodMonitorArgs(
            namespace=self.flux_namespace,
            controllers=self.controllers,
            interval=self.scrape_interval,
            honor_labels=self.honor_labels,
            labels={**FluxPodMonitorArgs().labels, **self.labels},
        )

    def alert_rules(self) -> FluxAlertRulesArgs:
        return FluxAlertRulesArgs(
            namespace=self.namespace,
            labels=self.labels,
            job=self.pod_monitor().job,
            honor_labels=self.honor_labels,
            kinds=self.kinds,
            rules=self.rules,
        )

    def state_metrics_args(self) -> FluxStateMetricsArgs:
        s = self.state_metrics
        return FluxStateMetricsArgs(
            name=s.name,
            namespace=self.namespace,
            kinds=self.kinds,
            values_key=s.values_key,
            chart=s.chart,
            custom_resource_state_only=s.custom_resource_state_only,
        )

    def dashboard_args(self) -> FluxDashboardArgs:
        d = self.dashboard
        return FluxDashboardArgs(
            namespace=self.namespace,
            title=d.title,
            uid=d.uid,
            folder=d.folder,
            job=self.pod_monitor().job,
            honor_labels=self.honor_labels,
            kinds=self.kinds,
        )


class FluxMonitoring(pulumi.ComponentResource):
    """PodMonitor, kube-state-metrics values, PrometheusRule and dashboard for Flux, consistent
    with each other. Everything is rendered and checked before the first registration."""

    pod_monitor: FluxPodMonitor
    rules: FluxAlertRules
    state_metrics: FluxStateMetrics | None
    dashboard: FluxDashboard | None

    def __init__(
        self,
        name: str,
        args: FluxMonitoringArgs | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        args = args or FluxMonitoringArgs()
        pod_monitor = args.pod_monitor()
        rules = args.alert_rules()
        state = args.state_metrics_args() if args.state_metrics.enabled else None
        board = args.dashboard_args() if args.dashboard.enabled else None
        for part in (pod_monitor, rules, state, board):
            if part is not None:
                part.to_manifest()  # render and check everything before registering
        super().__init__("gitops:monitoring:FluxMonitoring", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.pod_monitor = FluxPodMonitor(f"{name}-scrape", pod_monitor, child)
        self.rules = FluxAlertRules(f"{name}-rules", rules, child)
        self.state_metrics = FluxStateMetrics(f"{name}-ksm", state, child) if state else None
        self.dashboard = FluxDashboard(f"{name}-grafana", board, child) if board else None
        self.register_outputs({"job": self.pod_monitor.job, "alerts": self.rules.alerts})
