"""`FluxAlertRules`: the PrometheusRule with the Flux alerts, every expression checked against
the Flux metric catalog before anything registers."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from gitops_sdk.components.base import ComponentArgs
from gitops_sdk.components.monitoring_base import (
    MONITORING_API_VERSION,
    custom_resource,
    metadata,
)
from gitops_sdk.core.fields import Name, Namespace
from gitops_sdk.services.flux_metrics import FLUX_KINDS, FluxKinds, flux_catalog
from gitops_sdk.services.prometheus_rules import FluxRuleSettings, RuleGroup, flux_alert_rules

__all__ = ["FluxAlertRules", "FluxAlertRulesArgs"]


class FluxAlertRulesArgs(ComponentArgs):
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
    kinds: FluxKinds = list(FLUX_KINDS)
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
            "metadata": metadata(self.name, self.namespace, self.labels),
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
        self.rule = custom_resource(
            f"{name}-prometheusrule", manifest, pulumi.ResourceOptions(parent=self)
        )
        self.register_outputs({"alerts": self.alerts})
