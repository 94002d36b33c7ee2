"""flagger.app/v1beta1 Canary: the seed's demo-app canary, the component, bad inputs."""

from __future__ import annotations

from typing import Any

import pulumi_kubernetes as k8s
import pytest

from gitops_sdk import SpecError
from gitops_sdk.api.flagger import (
    Canary,
    CanaryAnalysis,
    CanaryConfig,
    CanaryMetric,
    CanaryTargetRef,
)
from gitops_sdk.components.canary import CanaryRelease, CanaryReleaseArgs
from gitops_sdk.components.resource import PATCH_FORCE
from gitops_sdk.core.model import from_manifest
from gitops_sdk.services.crds import Schemas, validate_manifest
from gitops_sdk.stack import synth
from gitops_sdk.stack.synth import RecordingMocks

SEED_CANARY = {
    "apiVersion": "flagger.app/v1beta1",
    "kind": "Canary",
    "metadata": {"name": "demo-app", "namespace": "staging"},
    "spec": {
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "demo-app"},
        "progressDeadlineSeconds": 60,
        "service": {"port": 80, "targetPort": 80},
        "analysis": {
            "interval": "1m",
            "threshold": 5,
            "maxWeight": 50,
            "stepWeight": 10,
            "metrics": [
                {"name": "request-success-rate", "thresholdRange": {"min": 99}, "interval": "1m"},
                {"name": "request-duration", "thresholdRange": {"max": 500}, "interval": "30s"},
            ],
            "webhooks": [
                {
                    "name": "acceptance-test",
                    "type": "pre-rollout",
                    "url": "http://flagger-loadtester.test/",
                    "timeout": "30s",
                    "metadata": {
                        "type": "bash",
                        "cmd": "curl -sd 'test' http://demo-app-canary.staging/token | grep token",
                    },
                },
                {
                    "name": "load-test",
                    "url": "http://flagger-loadtester.test/",
                    "timeout": "5s",
                    "metadata": {"cmd": "hey -z 1m -q 10 -c 2 http://demo-app-canary.staging/"},
                },
            ],
        },
        "provider": "traefik",
    },
}


def analysis(**extra: Any) -> dict[str, Any]:
    return {**SEED_CANARY["spec"]["analysis"], **extra}  # type: ignore[index]


def demo(target: Any = "demo-app", **extra: Any) -> Canary:
    return Canary.for_deployment(
        target,
        namespace="staging",
        progress_deadline_seconds=60,
        service={"port": 80, "target_port": 80},
        analysis=extra.pop("analysis", analysis()),
        **extra,
    )


def deployment(name: str = "demo-app", namespace: str = "staging") -> k8s.apps.v1.Deployment:
    return k8s.apps.v1.Deployment(
        name,
        metadata={"name": name, "namespace": namespace},
        spec={
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.21-alpine"}]},
            },
        },
    )


def test_seed_canary_renders_exactly_and_round_trips() -> None:
    canary = demo()
    assert canary.to_manifest() == SEED_CANARY
    assert from_manifest(SEED_CANARY).to_manifest() == SEED_CANARY


def test_metric_factories_build_the_seed_metrics() -> None:
    built = CanaryAnalysis(
        interval="1m",
        threshold=5,
        max_weight=50,
        step_weight=10,
        metrics=[
            CanaryMetric.request_success_rate(min=99),
            CanaryMetric.request_duration(max=500, interval="30s"),
        ],
    )
    assert built.to_dict()["metrics"] == analysis()["metrics"]


def test_component_registers_the_canary_after_the_deployment(mocks: RecordingMocks) -> None:
    def program() -> None:
        dep = deployment()
        CanaryRelease("demo-app", CanaryReleaseArgs(canary=demo(CanaryTargetRef.of(dep))))

    synth.run(program)
    (canary,) = mocks.by_kind("Canary")
    owned = {**SEED_CANARY["metadata"], "annotations": PATCH_FORCE}
    assert canary == {**SEED_CANARY, "metadata": owned}
    assert ("gitops:flagger:CanaryRelease", "demo-app") in [
        (r.type, r.name) for r in mocks.resources
    ]
    assert "demo-app-canary" in [r.name for r in mocks.resources]


def test_target_ref_from_a_resource_takes_its_kind_and_pulumi_name(mocks: RecordingMocks) -> None:
    refs: list[CanaryTargetRef] = []
    synth.run(lambda: refs.append(CanaryTargetRef.of(deployment("web"))))
    assert refs[0].to_dict() == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
    assert refs[0].resource is not None


def test_daemon_set_and_autoscaler_refs_fill_api_versions() -> None:
    canary = demo(
        CanaryTargetRef.daemon_set("agent"),
        autoscaler_ref={"kind": "HorizontalPodAutoscaler", "name": "agent"},
    )
    spec = canary.to_manifest()["spec"]
    assert spec["targetRef"] == {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent"}
    assert spec["autoscalerRef"]["apiVersion"] == "autoscaling/v2"


def test_rendered_canaries_are_valid_against_flaggers_crd(third_party_schemas: Schemas) -> None:
    daemon_set = demo(
        CanaryTargetRef.daemon_set("agent"),
        autoscaler_ref={"kind": "HorizontalPodAutoscaler", "name": "agent"},
    )
    for doc in (SEED_CANARY, demo().to_manifest(), daemon_set.to_manifest()):
        assert ("flagger.app/v1beta1", "Canary") in third_party_schemas
        assert validate_manifest(doc, third_party_schemas) == []


# --- bad inputs (error text pinned) ------------------------------------------------------------


def test_max_weight_below_step_weight_is_rejected() -> None:
    with pytest.raises(
        SpecError,
        match=r"Canary 'demo-app': spec.analysis.maxWeight 5: is less than stepWeight \(10\), "
        r"so not even the first traffic step fits",
    ):
        demo(analysis=analysis(maxWeight=5))


def test_exactly_one_traffic_strategy() -> None:
    with pytest.raises(
        SpecError,
        match=r"spec.analysis.stepWeight 10: set exactly one of iterations \(A/B, blue/green\), "
        r"stepWeight or stepWeights \(canary\); found iterations and stepWeight",
    ):
        demo(analysis=analysis(iterations=10, maxWeight=None))
    with pytest.raises(SpecError, match=r"spec.analysis.stepWeight: set exactly one.*none is set"):
        demo(analysis=analysis(stepWeight=None))


def test_thresholds_out_of_range_are_rejected() -> None:
    with pytest.raises(SpecError, match=r"spec.analysis.threshold 0: input should be greater than"):
        demo(analysis=analysis(threshold=0))
    with pytest.raises(SpecError, match=r"spec.analysis.maxWeight 150: input should be less than"):
        demo(analysis=analysis(maxWeight=150))


def test_interval_in_hours_is_rejected() -> None:
    with pytest.raises(
        SpecError,
        match=r"spec.analysis.interval '1h': must start with a number of seconds or minutes",
    ):
        demo(analysis=analysis(interval="1h"))
    with pytest.raises(SpecError, match=r"spec.analysis.interval '1 minute': is not a duration"):
        demo(analysis=analysis(interval="1 minute"))


def test_success_rate_must_be_a_percentage() -> None:
    metrics = [{"name": "request-success-rate", "thresholdRange": {"min": 150}}]
    with pytest.raises(
        SpecError,
        match=r"spec.analysis.metrics\[0\].thresholdRange.min 150: is a success rate in "
        r"percent: expected 0 to 100",
    ):
        demo(analysis=analysis(metrics=metrics))


def test_request_duration_needs_a_maximum() -> None:
    metrics = [{"name": "request-duration", "thresholdRange": {"min": 10}}]
    with pytest.raises(
        SpecError,
        match=r"metrics\[0\].thresholdRange.max: request-duration needs a maximum duration in "
        r"milliseconds",
    ):
        demo(analysis=analysis(metrics=metrics))


def test_custom_metric_needs_a_template_and_empty_range_is_rejected() -> None:
    with pytest.raises(
        SpecError,
        match=r"metrics\[0\].templateRef: 'error-rate' is not a built-in metric "
        r"\(request-success-rate, request-duration\)",
    ):
        demo(analysis=analysis(metrics=[{"name": "error-rate", "thresholdRange": {"max": 1}}]))
    with pytest.raises(SpecError, match=r"thresholdRange.min: set min, max or both"):
        demo(analysis=analysis(metrics=[{"name": "request-duration", "thresholdRange": {}}]))


def test_webhook_url_and_type_are_checked() -> None:
    hooks = [{"name": "load-test", "url": "flagger-loadtester.test/"}]
    with pytest.raises(
        SpecError,
        match=r"webhooks\[0\].url 'flagger-loadtester.test/': must start with http:// or https://",
    ):
        demo(analysis=analysis(webhooks=hooks))
    hooks = [{"name": "gate", "url": "http://x/", "type": "pre-promotion"}]
    with pytest.raises(SpecError, match=r"webhooks\[0\].type 'pre-promotion': expected"):
        demo(analysis=analysis(webhooks=hooks))


def test_duplicate_metric_names_and_unsorted_steps_are_rejected() -> None:
    twice = [analysis()["metrics"][0], analysis()["metrics"][0]]
    with pytest.raises(
        SpecError, match=r"spec.analysis.metrics \['request-success-rate'\]: names must be unique"
    ):
        demo(analysis=analysis(metrics=twice))
    with pytest.raises(SpecError, match=r"stepWeights \[10, 5, 20\]: must be strictly ascending"):
        demo(analysis=analysis(stepWeight=None, stepWeights=[10, 5, 20]))


def test_traefik_needs_a_service() -> None:
    with pytest.raises(
        SpecError, match=r"Canary 'demo-app': spec.service: is needed with provider 'traefik'"
    ):
        Canary(
            name="demo-app",
            namespace="staging",
            target_ref={"kind": "Deployment", "name": "demo-app"},
            analysis=analysis(),
            provider="traefik",
        )


def test_target_kind_must_match_the_resource(mocks: RecordingMocks) -> None:
    def program() -> None:
        dep = deployment()
        CanaryRelease(
            "demo-app",
            CanaryReleaseArgs(canary=demo(CanaryTargetRef.daemon_set("demo-app")), target=dep),
        )

    with pytest.raises(
        SpecError,
        match=r"spec.targetRef.kind 'DaemonSet': the target resource is a Deployment, not a "
        r"DaemonSet",
    ):
        synth.run(program)


def test_target_name_and_namespace_must_match_the_resource(mocks: RecordingMocks) -> None:
    def program() -> None:
        dep = deployment("web", namespace="production")
        CanaryRelease("demo-app", CanaryReleaseArgs(canary=demo("demo-app"), target=dep))

    with pytest.raises(
        SpecError,
        match=r"spec.targetRef.name 'demo-app': the target Deployment is named 'web'.*"
        r"metadata.namespace 'staging': the target Deployment is in namespace 'production'",
    ):
        synth.run(program)


def test_target_must_be_a_workload_resource(mocks: RecordingMocks) -> None:
    def program() -> None:
        cm = k8s.core.v1.ConfigMap("cfg", metadata={"name": "cfg"})
        CanaryTargetRef.of(cm)  # type: ignore[arg-type]

    with pytest.raises(
        SpecError, match=r"kind 'ConfigMap': the target must be a pulumi_kubernetes Deployment"
    ):
        synth.run(program)


def test_stack_config_builds_canaries_only_when_enabled() -> None:
    entry = {
        "namespace": "production",
        "target": "demo-app",
        "service": {"port": 80, "targetPort": 80},
        "progressDeadlineSeconds": 60,
        "analysis": analysis(),
    }
    assert CanaryConfig(canaries={"demo-app": entry}).build() == []
    (canary,) = CanaryConfig(enabled=True, canaries={"demo-app": entry}).build()
    expected = {**SEED_CANARY, "metadata": {"name": "demo-app", "namespace": "production"}}
    assert canary.to_manifest() == expected
    with pytest.raises(SpecError, match=r"CanaryConfig: canaries.demo-app.analysis.maxWeight 5"):
        CanaryConfig(canaries={"demo-app": {**entry, "analysis": analysis(maxWeight=5)}})
