"""End to end: `Pulumi.production.yaml`, with only its URLs changed, deployed by one `pulumi up`
to its own empty control plane; the same checks as staging's where production differs (HA
values, the Flagger load tester, a Canary), then destroy. Tests run in file order."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gitops_e2e import shipped

from .shipped_support import (
    check_crd_objects_after_their_chart,
    check_dependency_order,
    check_deployed,
    check_destroy,
    created_at,
    deploy,
    no_changes,
    ready_at,
)

pytestmark = pytest.mark.e2e
STACK = "production"
NS = "flux-system"


@pytest.fixture(scope="module")
def production(toolchain: Path, e2e_work: Path) -> Iterator[shipped.Shipped]:
    yield from deploy(STACK, e2e_work / STACK)


def test_one_pulumi_up_deploys_the_stack_on_an_empty_control_plane(
    production: shipped.Shipped,
) -> None:
    check_deployed(production)
    assert shipped.non_url_differences(production.original, production.derived) == []
    assert {p.chart for p in production.pins} >= {"flagger", "loadtester"}


def test_every_release_and_kustomization_is_ready_in_dependency_order(
    production: shipped.Shipped,
) -> None:
    assert check_dependency_order(production) >= 10


def test_the_canary_is_created_only_after_flagger_is_ready(production: shipped.Shipped) -> None:
    checked = check_crd_objects_after_their_chart(production)
    assert checked["monitoring-flagger"] == ["Canary/demo-app"]
    assert sorted(checked["monitoring-kube-prometheus-stack"]) == [
        "PodMonitor/flux-system",
        "PrometheusRule/flux",
    ]
    kube = production.plane.kube
    canary = kube.get("Canary", "demo-app", "production")
    assert canary is not None
    # and after the Kustomization that makes its namespace and target
    demo = kube.get("Kustomization", "apps-demo", NS)
    assert created_at(canary) >= ready_at(demo)


def test_a_second_preview_reports_no_changes(production: shipped.Shipped) -> None:
    no_changes(production)


def test_destroy_leaves_nothing_but_the_crds_helm_keeps(production: shipped.Shipped) -> None:
    kept = {name for _, _, name in check_destroy(production)}
    assert "canaries.flagger.app" in kept
