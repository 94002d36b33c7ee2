"""Scraping Flux: `FluxPodMonitor`, the PodMonitor for the controllers' metrics port, and
`FluxStateMetrics`, a ConfigMap of kube-prometheus-stack values that turns on kube-state-metrics'
Custom Resource State for the given Flux kinds (producing `gotk_resource_info`).

The kube-prometheus-stack HelmRelease (in Git) merges the values with `valuesFrom`, and the
`reconcile.fluxcd.io/watch: Enabled` label makes helm-controller upgrade the release as soon as
the ConfigMap changes. A values fragment rather than a raw `--custom-resource-state-config` file:
the chart then renders the config, mounts it and grants kube-state-metrics list/watch on the Flux
kinds (`rbac.extraRules`), which a bare file cannot.
"""

from __future__ import annotations

from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s
import yaml

from gitops_sdk.components.base import ComponentArgs
from gitops_sdk.components.kube_object import KubeObject
from gitops_sdk.components.monitoring_base import (
    MONITORING_API_VERSION,
    config_map,
    custom_resource,
    metadata,
)
from gitops_sdk.core.fields import Name, Namespace
from gitops_sdk.services.flux_metrics import (
    FLUX_CONTROLLERS,
    FLUX_KINDS,
    KIND_STATE,
    FluxControllers,
    FluxKinds,
)
from gitops_sdk.services.promql_syntax import PromDuration

DUMPER: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
"""libyaml's dumper when PyYAML has it: the values are ~1,600 YAML nodes, dumped on every run."""

__all__ = ["FluxPodMonitor", "FluxPodMonitorArgs", "FluxStateMetrics", "FluxStateMetricsArgs"]


class FluxPodMonitorArgs(ComponentArgs):
    """A PodMonitor scraping the Flux controllers' `http-prom` port."""

    name: Name = "flux-system"
    """Name of the PodMonitor; the Prometheus Operator names the scrape job `<namespace>/<name>`."""
    namespace: Name = "flux-system"
    """Namespace of the PodMonitor and of the controller pods."""
    controllers: FluxControllers = list(FLUX_CONTROLLERS)
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
            "metadata": metadata(self.name, self.namespace, self.labels),
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
        self.pod_monitor = custom_resource(
            f"{name}-podmonitor", manifest, pulumi.ResourceOptions(parent=self)
        )
        self.register_outputs({"job": self.job})


class FluxStateMetricsArgs(ComponentArgs):
    """kube-state-metrics settings producing `gotk_resource_info` for the given Flux kinds."""

    name: Name = "flux-kube-state-metrics-config"
    """Name of the ConfigMap; the kube-prometheus-stack HelmRelease lists it in `valuesFrom`."""
    namespace: Namespace = "monitoring"
    """Namespace of the ConfigMap: the HelmRelease's own (valuesFrom is namespace-local)."""
    kinds: FluxKinds = list(FLUX_KINDS)
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
            state = KIND_STATE[kind]
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
            state = KIND_STATE[kind]
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
            "metadata": metadata(self.name, self.namespace, labels),
            "data": {
                self.values_key: yaml.dump(self.helm_values(), Dumper=DUMPER, sort_keys=False)
            },
        }


class FluxStateMetrics(pulumi.ComponentResource):
    """The ConfigMap of kube-prometheus-stack values that makes kube-state-metrics export
    `gotk_resource_info` for Flux objects."""

    config_map: KubeObject
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
        self.config_map = config_map(
            f"{name}-config", manifest, pulumi.ResourceOptions(parent=self)
        )
        self.register_outputs({"valuesFrom": self.values_from})
