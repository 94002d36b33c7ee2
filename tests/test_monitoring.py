"""Flux monitoring: metric catalog, PodMonitor, kube-state-metrics values, PrometheusRule and the
Grafana dashboard, as pure renders and under Pulumi's mock runtime."""

from __future__ import annotations

import json
from typing import Any

import promql_parser
import pulumi
import pytest
import yaml

from gitops_sdk.components.alert_rules import FluxAlertRules, FluxAlertRulesArgs
from gitops_sdk.components.dashboard import FluxDashboard, FluxDashboardArgs
from gitops_sdk.components.monitoring import FluxMonitoring, FluxMonitoringArgs
from gitops_sdk.components.scrape import (
    FluxPodMonitor,
    FluxPodMonitorArgs,
    FluxStateMetrics,
    FluxStateMetricsArgs,
)
from gitops_sdk.core.errors import SpecError
from gitops_sdk.services.flux_metrics import FLUX_KINDS, flux_catalog
from gitops_sdk.services.grafana import Dashboard, Panel, Target, flux_dashboard
from gitops_sdk.services.prometheus_rules import AlertRule, FluxRuleSettings, flux_alert_rules
from gitops_sdk.services.promql import PromQLError, check, check_template_labels
from gitops_sdk.stack import synth
from gitops_sdk.stack.synth import RecordingMocks

VARIANTS = [
    {},
    {"honor_labels": True},
    {"kinds": ["Kustomization", "HelmRelease", "Alert"]},
    {"kinds": ["Alert", "Provider"]},
    {"rules": FluxRuleSettings.for_environment("staging")},
]


def rules_of(**args: Any) -> list[dict[str, Any]]:
    manifest = FluxAlertRulesArgs(**args).to_manifest()
    rules: list[dict[str, Any]] = manifest["spec"]["groups"][0]["rules"]
    return rules


# --- catalog -------------------------------------------------------------------------------------


def test_catalog_knows_what_flux_exports_today() -> None:
    catalog = flux_catalog()
    info = catalog.series("gotk_resource_info")
    assert info is not None
    for label in ("customresource_kind", "exported_namespace", "name", "ready", "suspended"):
        assert label in info.labels
    # kind-specific labels
    for label in ("revision", "source_name", "chart_app_version", "webhook_path", "image", "url"):
        assert label in info.labels
    bucket = catalog.series("gotk_reconcile_duration_seconds_bucket")
    assert bucket is not None and {"kind", "name", "exported_namespace", "le"} <= bucket.labels
    assert catalog.series("gotk_reconcile_duration_seconds") is None
    assert catalog.series("gotk_reconcile_condition") is None
    assert "stopped recording it in Flux 2.5" in catalog.unknown("gotk_suspend_status")
    up = catalog.series("up")
    assert up is not None and {"job", "instance", "pod"} <= up.labels


def test_catalog_follows_kinds_and_honor_labels() -> None:
    info = flux_catalog(["Alert", "Provider"]).series("gotk_resource_info")
    assert info is not None
    assert "ready" not in info.labels  # Alert and Provider have no status
    assert "revision" not in info.labels
    assert info.values["customresource_kind"] == {"Alert", "Provider"}
    honored = flux_catalog(honor_labels=True).series("gotk_reconcile_duration_seconds_count")
    assert honored is not None and "exported_namespace" not in honored.labels


# --- PrometheusRule ------------------------------------------------------------------------------


@pytest.mark.parametrize("args", VARIANTS)
def test_every_rule_parses_and_uses_only_known_metrics(args: dict[str, Any]) -> None:
    parsed = FluxAlertRulesArgs(**args)
    catalog = flux_catalog(parsed.kinds, honor_labels=parsed.honor_labels)
    rules = rules_of(**args)
    assert rules
    for rule in rules:
        check(rule["expr"], catalog)
        promql_parser.parse(rule["expr"])
        assert "gotk_reconcile_condition" not in rule["expr"]
        assert "gotk_suspend_status" not in rule["expr"]


def test_production_rules_render_exactly() -> None:
    rules = rules_of(labels={"release": "kube-prometheus-stack"})
    assert [r["alert"] for r in rules] == [
        "FluxReconciliationFailure",
        "FluxResourceSuspended",
        "FluxReconciliationSlow",
        "FluxControllerDown",
    ]
    failing, suspended, slow, down = rules
    assert failing["expr"] == (
        "max by (customresource_kind, exported_namespace, name) "
        '(gotk_resource_info{ready="False", suspended!="true"}) > 0'
    )
    assert failing["for"] == "10m"
    assert failing["labels"] == {"severity": "critical"}
    assert suspended["expr"] == (
        "max by (customresource_kind, exported_namespace, name) "
        '(gotk_resource_info{suspended="true"}) > 0'
    )
    assert suspended["for"] == "5m"
    assert slow["expr"] == (
        "histogram_quantile(0.99, sum by (kind, exported_namespace, name, le) "
        "(rate(gotk_reconcile_duration_seconds_bucket[10m]))) > 300"
    )
    assert down["expr"] == (
        'up{job="flux-system/flux-system"} == 0 or absent(up{job="flux-system/flux-system"})'
    )
    assert down["labels"] == {"severity": "critical"}
    assert failing["annotations"]["summary"] == (
        "{{ $labels.customresource_kind }} {{ $labels.exported_namespace }}/{{ $labels.name }} "
        "is not ready"
    )
    manifest = FluxAlertRulesArgs(labels={"release": "kube-prometheus-stack"}).to_manifest()
    assert manifest["apiVersion"] == "monitoring.coreos.com/v1"
    assert manifest["kind"] == "PrometheusRule"
    assert manifest["metadata"] == {
        "name": "flux",
        "namespace": "monitoring",
        "labels": {"release": "kube-prometheus-stack"},
    }


def test_staging_warns_and_production_pages() -> None:
    staging = FluxRuleSettings.for_environment("staging", rule_labels={"cluster": "kubestaging"})
    production = FluxRuleSettings.for_environment("production")
    sev = {r["alert"]: r["labels"]["severity"] for r in rules_of(rules=staging)}
    assert sev == {
        "FluxReconciliationFailure": "warning",
        "FluxResourceSuspended": "info",
        "FluxReconciliationSlow": "warning",
        "FluxControllerDown": "warning",
    }
    assert all(r["labels"]["cluster"] == "kubestaging" for r in rules_of(rules=staging))
    paging = {
        r["alert"] for r in rules_of(rules=production) if r["labels"]["severity"] == "critical"
    }
    assert paging == {"FluxReconciliationFailure", "FluxControllerDown"}


def test_settings_override_the_preset_from_config_keys() -> None:
    settings = FluxRuleSettings.model_validate(
        {
            "preset": "staging",
            "failing": {"for": "15m"},
            "slow": {"thresholdSeconds": 600, "quantile": 0.9, "window": "30m"},
            "controllerDown": {"enabled": False},
        }
    )
    assert settings.failing.severity == "warning"
    assert settings.failing.for_ == "15m"
    group = flux_alert_rules(settings)
    slow = next(r for r in group.rules if r.alert == "FluxReconciliationSlow")
    assert slow.expr.startswith("histogram_quantile(0.9, ")
    assert slow.expr.endswith("[30m]))) > 600")
    assert "FluxControllerDown" not in [r.alert for r in group.rules]


def test_narrower_kinds_filter_the_rules() -> None:
    rules = rules_of(kinds=["Kustomization", "HelmRelease"], honor_labels=True)
    assert 'customresource_kind=~"Kustomization|HelmRelease"' in rules[0]["expr"]
    assert "sum by (kind, namespace, name, le)" in rules[2]["expr"]
    assert '{kind=~"Kustomization|HelmRelease"}' in rules[2]["expr"]
    only_static = [r["alert"] for r in rules_of(kinds=["Alert", "Provider"])]
    assert only_static == ["FluxResourceSuspended", "FluxControllerDown"]


def with_extra(rule: AlertRule) -> dict[str, Any]:
    return FluxAlertRulesArgs(rules=FluxRuleSettings(extra_rules=[rule])).to_manifest()


def test_removed_metric_is_rejected_with_the_replacement() -> None:
    old = AlertRule(
        alert="FluxReconciliationFailureOld",
        expr='max(gotk_reconcile_condition{type="Ready",status="False"}) '
        "by (exported_namespace, name, type) == 1",
        for_="10m",
    )
    with pytest.raises(
        PromQLError,
        match=r"^PrometheusRule monitoring/flux alert 'FluxReconciliationFailureOld': expr: "
        r"metric 'gotk_reconcile_condition' no longer exists: the controllers stopped recording "
        r"it in Flux 2\.5; use gotk_resource_info\{ready=\"False\"\} from kube-state-metrics "
        r"Custom Resource State \(at column 5\)",
    ):
        with_extra(old)


def test_typo_label_is_rejected_with_a_suggestion() -> None:
    typo = AlertRule(alert="Typo", expr='gotk_resource_info{redy="False"} > 0')
    with pytest.raises(
        PromQLError, match=r"gotk_resource_info has no label 'redy' \(did you mean 'ready'\?\)"
    ) as info:
        with_extra(typo)
    assert info.value.column == 20


def test_unbalanced_parens_are_rejected_when_the_rule_is_made() -> None:
    with pytest.raises(
        PromQLError,
        match=r"^alert 'Broken': expr: unclosed left parenthesis \(at column 4\)",
    ):
        AlertRule(alert="Broken", expr='max(gotk_resource_info{ready="False"} > 0')


def test_annotation_labels_must_exist_on_the_result() -> None:
    rule = AlertRule(
        alert="Grouped",
        expr="count by (exported_namespace) (gotk_resource_info) > 10",
        annotations={"summary": "{{ $labels.name }} is crowded"},
    )
    with pytest.raises(
        PromQLError,
        match=r"alert 'Grouped': annotation 'summary': the template uses label 'name', .*; its "
        r"labels: exported_namespace",
    ):
        with_extra(rule)


def test_ready_values_are_checked() -> None:
    rule = AlertRule(alert="Lower", expr='gotk_resource_info{ready="false"} == 1')
    with pytest.raises(
        PromQLError,
        match=r"gotk_resource_info\{ready\} is never 'false' \(did you mean 'False'\?\)",
    ):
        with_extra(rule)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: FluxRuleSettings(preset="prod"),
            r"^FluxRuleSettings: preset 'prod': expected 'staging' or 'production'$",
        ),
        (
            lambda: FluxRuleSettings(failing={"severity": "page"}),
            r"failing.severity 'page': expected 'none', 'info', 'warning' or 'critical'",
        ),
        (
            lambda: FluxRuleSettings(failing={"for": "10 minutes"}),
            r"failing.for '10 minutes': is not a Prometheus duration",
        ),
        (
            lambda: FluxRuleSettings(slow={"quantile": 1.5}),
            r"slow.quantile 1.5: input should be less than 1",
        ),
        (
            lambda: FluxMonitoringArgs(kinds=["Kustomization", "Kustomization"]),
            r"kinds \['Kustomization', 'Kustomization'\]: lists kind 'Kustomization' twice",
        ),
        (
            lambda: FluxMonitoringArgs(**{"scrapeInterval": "1 min"}),
            r"^FluxMonitoringArgs: scrapeInterval '1 min': is not a Prometheus duration",
        ),
        (
            lambda: FluxMonitoringArgs(controllers=[]),
            r"controllers \[\]: must list at least one controller",
        ),
        (
            lambda: FluxMonitoringArgs(**{"grafana": {}}),
            r"^FluxMonitoringArgs: grafana: unknown field$",
        ),
        (
            lambda: AlertRule(alert="Flux Down", expr="up == 0"),
            r"^AlertRule: alert 'Flux Down': is not an alert name",
        ),
        (
            lambda: FluxAlertRulesArgs(
                rules=FluxRuleSettings(
                    extra_rules=[AlertRule(alert="FluxControllerDown", expr="up")]
                )
            ).to_manifest(),
            r"^RuleGroup: rules\[4\]\.alert 'FluxControllerDown': is the name of rules\[3\] too",
        ),
        (
            lambda: Panel(title="p", kind="stat", width=30, targets=[Target(expr="up")]),
            r"^Panel: width 30: input should be less than or equal to 24$",
        ),
        (
            lambda: FluxDashboardArgs(uid="flux gitops"),
            r"uid 'flux gitops': is not a dashboard uid \(1 to 40 letters, digits, '-' and '_'\)",
        ),
    ],
)
def test_bad_settings_are_rejected(make: Any, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        make()


# --- PodMonitor and kube-state-metrics -----------------------------------------------------------


def test_pod_monitor_renders_exactly() -> None:
    args = FluxPodMonitorArgs(
        controllers=["source-controller", "kustomize-controller"], interval="30s"
    )
    assert args.job == "flux-system/flux-system"
    assert args.to_manifest() == {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": {
            "name": "flux-system",
            "namespace": "flux-system",
            "labels": {
                "app.kubernetes.io/part-of": "flux",
                "app.kubernetes.io/component": "monitoring",
            },
        },
        "spec": {
            "namespaceSelector": {"matchNames": ["flux-system"]},
            "selector": {
                "matchExpressions": [
                    {
                        "key": "app",
                        "operator": "In",
                        "values": ["source-controller", "kustomize-controller"],
                    }
                ]
            },
            "podMetricsEndpoints": [
                {
                    "port": "http-prom",
                    "relabelings": [
                        {
                            "sourceLabels": ["__meta_kubernetes_pod_phase"],
                            "action": "keep",
                            "regex": "Running",
                        }
                    ],
                    "interval": "30s",
                }
            ],
        },
    }


def test_state_metrics_values_cover_every_kind() -> None:
    args = FluxStateMetricsArgs()
    manifest = args.to_manifest()
    assert manifest["metadata"]["labels"] == {"reconcile.fluxcd.io/watch": "Enabled"}
    values = yaml.safe_load(manifest["data"]["kube-state-metrics-config.yaml"])
    ksm = values["kube-state-metrics"]
    assert "collectors" not in ksm  # the usual kube-state-metrics series stay
    resources = ksm["customResourceState"]["config"]["spec"]["resources"]
    gvks = {r["groupVersionKind"]["kind"]: r["groupVersionKind"] for r in resources}
    assert set(gvks) == set(FLUX_KINDS)
    assert gvks["HelmRelease"] == {
        "group": "helm.toolkit.fluxcd.io",
        "version": "v2",
        "kind": "HelmRelease",
    }
    assert gvks["Alert"]["version"] == "v1beta3"
    assert gvks["Provider"]["version"] == "v1beta3"
    assert gvks["Receiver"]["version"] == "v1"
    assert gvks["ImagePolicy"] == {
        "group": "image.toolkit.fluxcd.io",
        "version": "v1",
        "kind": "ImagePolicy",
    }
    by_kind = {r["groupVersionKind"]["kind"]: r for r in resources}
    kustomization = by_kind["Kustomization"]
    assert kustomization["metricNamePrefix"] == "gotk"
    (metric,) = kustomization["metrics"]
    assert metric["name"] == "resource_info"
    assert metric["each"] == {
        "type": "Info",
        "info": {"labelsFromPath": {"name": ["metadata", "name"]}},
    }
    assert metric["labelsFromPath"] == {
        "exported_namespace": ["metadata", "namespace"],
        "ready": ["status", "conditions", "[type=Ready]", "status"],
        "suspended": ["spec", "suspend"],
        "revision": ["status", "lastAppliedRevision"],
        "source_name": ["spec", "sourceRef", "name"],
    }
    assert "ready" not in by_kind["Provider"]["metrics"][0]["labelsFromPath"]
    rbac = {tuple(r["apiGroups"]): r["resources"] for r in ksm["rbac"]["extraRules"]}
    assert rbac[("notification.toolkit.fluxcd.io",)] == ["receivers", "alerts", "providers"]
    assert args.values_from() == {
        "kind": "ConfigMap",
        "name": "flux-kube-state-metrics-config",
        "valuesKey": "kube-state-metrics-config.yaml",
    }


def test_state_metrics_for_a_dedicated_kube_state_metrics() -> None:
    values = FluxStateMetricsArgs(
        kinds=["Kustomization"], chart="kube-state-metrics", custom_resource_state_only=True
    ).helm_values()
    assert values["collectors"] == []
    assert values["extraArgs"] == ["--custom-resource-state-only=true"]
    assert values["rbac"]["extraRules"] == [
        {
            "apiGroups": ["kustomize.toolkit.fluxcd.io"],
            "resources": ["kustomizations"],
            "verbs": ["list", "watch"],
        }
    ]


# --- dashboard -----------------------------------------------------------------------------------


def test_dashboard_configmap_holds_valid_json_with_checked_queries() -> None:
    manifest = FluxDashboardArgs(folder="GitOps").to_manifest()
    assert manifest["metadata"]["labels"] == {"grafana_dashboard": "1"}
    assert manifest["metadata"]["annotations"] == {"grafana_folder": "GitOps"}
    (key,) = manifest["data"]
    assert key == "flux-gitops.json"
    board = json.loads(manifest["data"][key])
    assert board["uid"] == "flux-gitops"
    names = [v["name"] for v in board["templating"]["list"]]
    assert names == ["datasource", "namespace", "kind"]
    titles = [p["title"] for p in board["panels"]]
    assert "Failing objects per kind" in titles
    assert "Failing objects per namespace" in titles
    assert "Reconciliation duration p99 per kind" in titles
    catalog = flux_catalog()
    queries = 0
    for panel in board["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24
        for target in panel["targets"]:
            checked = check(target["expr"], catalog, grafana=True)
            promql_parser.parse(target["expr"].replace("$__rate_interval", "5m"))
            check_template_labels(target.get("legendFormat", ""), checked.labels, style="legend")
            queries += 1
            assert "gotk_reconcile_condition" not in target["expr"]
    assert queries == len(flux_dashboard().queries()) == 11
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))


def test_dashboard_follows_honor_labels() -> None:
    board = flux_dashboard(honor_labels=True)
    per_ns = next(p for p in board.panels if p.title.endswith("p99 per namespace"))
    assert "sum by (namespace, le)" in per_ns.targets[0].expr
    board.check(flux_catalog(honor_labels=True))
    with pytest.raises(PromQLError, match=r"has no label 'exported_namespace'"):
        flux_dashboard(honor_labels=False).check(flux_catalog(honor_labels=True))


def test_dashboard_rejects_a_bad_query_and_legend() -> None:
    def board(target: Target) -> Dashboard:
        return Dashboard(
            title="t", uid="t", panels=[Panel(title="p", kind="stat", targets=[target])]
        )

    with pytest.raises(
        PromQLError,
        match=r"^dashboard 't' panel 'p' query 1: unknown metric 'gotk_resource_inf' \(did you "
        r"mean 'gotk_resource_info'\?\)",
    ):
        board(Target(expr="count(gotk_resource_inf)")).check(flux_catalog())
    with pytest.raises(
        PromQLError,
        match=r"^dashboard 't' panel 'p' query 1 legend: the template uses label 'kind'",
    ):
        board(
            Target(expr="count by (customresource_kind) (gotk_resource_info)", legend="{{kind}}")
        ).check(flux_catalog())


# --- components under the mock runtime -----------------------------------------------------------


def test_flux_monitoring_registers_every_part(mocks: RecordingMocks) -> None:
    args = FluxMonitoringArgs.model_validate(
        {
            "labels": {"release": "kube-prometheus-stack"},
            "scrapeInterval": "30s",
            "rules": {"preset": "staging", "ruleLabels": {"cluster": "kubestaging"}},
            "dashboard": {"folder": "Flux"},
        }
    )
    made: list[FluxMonitoring] = []
    synth.run(lambda: made.append(FluxMonitoring("flux", args)))
    types = {(r.type, r.name) for r in mocks.resources}
    assert ("gitops:monitoring:FluxMonitoring", "flux") in types
    assert ("gitops:monitoring:FluxPodMonitor", "flux-scrape") in types
    assert ("kubernetes:monitoring.coreos.com/v1:PodMonitor", "flux-scrape-podmonitor") in types
    assert ("kubernetes:monitoring.coreos.com/v1:PrometheusRule", "flux-rules-prometheusrule") in (
        types
    )
    assert ("kubernetes:core/v1:ConfigMap", "flux-ksm-config") in types
    assert ("kubernetes:core/v1:ConfigMap", "flux-grafana-dashboard") in types

    (monitor,) = mocks.by_kind("PodMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["podMetricsEndpoints"][0]["interval"] == "30s"
    (rule,) = mocks.by_kind("PrometheusRule")
    assert rule["metadata"]["labels"] == {"release": "kube-prometheus-stack"}
    rules = rule["spec"]["groups"][0]["rules"]
    assert {r["labels"]["severity"] for r in rules} <= {"warning", "info"}
    assert all(r["labels"]["cluster"] == "kubestaging" for r in rules)
    maps = {m["metadata"]["name"]: m for m in mocks.by_kind("ConfigMap")}
    board = json.loads(maps["flux-dashboard"]["data"]["flux-gitops.json"])
    assert board["title"] == "Flux"
    assert maps["flux-dashboard"]["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert "kube-state-metrics-config.yaml" in maps["flux-kube-state-metrics-config"]["data"]
    assert made[0].pod_monitor.job == "flux-system/flux-system"
    assert made[0].state_metrics is not None
    assert made[0].state_metrics.values_from["name"] == "flux-kube-state-metrics-config"


def test_flux_monitoring_parts_can_be_turned_off(mocks: RecordingMocks) -> None:
    args = FluxMonitoringArgs(dashboard={"enabled": False}, state_metrics={"enabled": False})
    synth.run(lambda: FluxMonitoring("flux", args))
    assert mocks.by_kind("ConfigMap") == []
    assert len(mocks.by_kind("PodMonitor")) == 1
    assert len(mocks.by_kind("PrometheusRule")) == 1


def test_bad_rule_fails_before_anything_is_registered(mocks: RecordingMocks) -> None:
    bad = AlertRule(alert="Old", expr="gotk_suspend_status == 1")
    args = FluxMonitoringArgs(rules=FluxRuleSettings(extra_rules=[bad]))
    with pytest.raises(PromQLError, match=r"metric 'gotk_suspend_status' no longer exists"):
        synth.run(lambda: FluxMonitoring("flux", args))
    assert mocks.resources == []


def test_each_part_is_a_component_of_name_args_opts(mocks: RecordingMocks) -> None:
    def program() -> None:
        opts = pulumi.ResourceOptions()
        FluxPodMonitor("scrape", FluxPodMonitorArgs(interval="1m"), opts)
        FluxStateMetrics("ksm", FluxStateMetricsArgs(kinds=["Kustomization"]), opts)
        FluxAlertRules("rules", FluxAlertRulesArgs(name="flux-alerts"), opts)
        FluxDashboard("grafana", FluxDashboardArgs(uid="flux"), opts)
        FluxPodMonitor("defaults")

    synth.run(program)
    assert len(mocks.by_kind("PodMonitor")) == 2
    assert [m["metadata"]["name"] for m in mocks.by_kind("PrometheusRule")] == ["flux-alerts"]
    assert len(mocks.by_kind("ConfigMap")) == 2


@pytest.mark.parametrize("kinds", [None, ["Kustomization", "HelmRelease"]])
def test_state_metrics_values_text_is_what_the_python_dumper_writes(kinds: Any) -> None:
    # libyaml writes the ConfigMap when PyYAML has it; the text must not depend on that, or a
    # machine without it would show a change on every preview.
    args = FluxStateMetricsArgs() if kinds is None else FluxStateMetricsArgs(kinds=kinds)
    text = args.to_manifest()["data"][args.values_key]
    assert text == yaml.safe_dump(args.helm_values(), sort_keys=False)
    assert yaml.safe_load(text) == args.helm_values()
