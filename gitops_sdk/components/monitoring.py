"""Monitoring Flux with the Prometheus Operator, kube-state-metrics and Grafana: `FluxMonitoring`
renders the PodMonitor, the kube-state-metrics values, the PrometheusRule and the dashboard
consistent with each other (job name, labels, kinds), checks them all, then registers them.
`FluxMonitoringArgs` is also the schema of the stack config's `gitops:monitoring`.
"""

from __future__ import annotations

from typing import Literal

import pulumi

from gitops_sdk.components.alert_rules import FluxAlertRules, FluxAlertRulesArgs
from gitops_sdk.components.base import ComponentArgs
from gitops_sdk.components.dashboard import FluxDashboard, FluxDashboardArgs
from gitops_sdk.components.scrape import (
    FluxPodMonitor,
    FluxPodMonitorArgs,
    FluxStateMetrics,
    FluxStateMetricsArgs,
)
from gitops_sdk.core.base import FluxModel
from gitops_sdk.core.fields import Name, Namespace
from gitops_sdk.services.flux_metrics import (
    FLUX_CONTROLLERS,
    FLUX_KINDS,
    FluxControllers,
    FluxKinds,
)
from gitops_sdk.services.grafana import DashboardUid
from gitops_sdk.services.prometheus_rules import FluxRuleSettings
from gitops_sdk.services.promql_syntax import PromDuration

__all__ = [
    "DashboardSettings",
    "FluxMonitoring",
    "FluxMonitoringArgs",
    "StateMetricsSettings",
]


class DashboardSettings(FluxModel):
    """The dashboard part of `gitops:monitoring`."""

    enabled: bool = True
    title: str = "Flux"
    uid: DashboardUid = "flux-gitops"
    folder: str | None = None


class StateMetricsSettings(FluxModel):
    """The kube-state-metrics part of `gitops:monitoring`."""

    enabled: bool = True
    name: Name = "flux-kube-state-metrics-config"
    values_key: str = "kube-state-metrics-config.yaml"
    chart: Literal["kube-prometheus-stack", "kube-state-metrics"] = "kube-prometheus-stack"
    custom_resource_state_only: bool = False


class FluxMonitoringArgs(ComponentArgs):
    """Everything `FluxMonitoring` renders; also the schema of `gitops:monitoring`."""

    namespace: Namespace = "monitoring"
    """Namespace of the PrometheusRule and the ConfigMaps (kube-prometheus-stack's)."""
    flux_namespace: Namespace = "flux-system"
    """Namespace of the Flux controllers (and of the PodMonitor)."""
    kinds: FluxKinds = list(FLUX_KINDS)
    """Flux kinds to report, alert on and chart."""
    controllers: FluxControllers = list(FLUX_CONTROLLERS)
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
