"""End to end: `Pulumi.staging.yaml`, with only its URLs changed, deployed by one `pulumi up`
to an empty control plane: the Flux install (its Deployments run as local processes, reported
Available), ten HelmReleases of stand-in charts that carry their projects' real CRDs, the apps
Kustomizations, monitoring objects, Receiver and Alert. Tests run in file order on one
deployment; the last destroys it."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from gitops_e2e import shipped
from gitops_e2e.charts import STANDIN_CONFIGMAP
from gitops_e2e.gitserver import git
from gitops_e2e.kube import condition, is_ready
from gitops_e2e.procs import wait_until

from .shipped_support import (
    check_crd_objects_after_their_chart,
    check_dependency_order,
    check_deployed,
    check_destroy,
    deploy,
    no_changes,
    rendered,
)

pytestmark = pytest.mark.e2e
STACK = "staging"
NS = "flux-system"
REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"


@pytest.fixture(scope="module")
def staging(toolchain: Path, e2e_work: Path) -> Iterator[shipped.Shipped]:
    yield from deploy(STACK, e2e_work / STACK)


def test_one_pulumi_up_deploys_the_stack_on_an_empty_control_plane(
    staging: shipped.Shipped,
) -> None:
    # gitops:flux.wait is true: the engine waited for every Flux Deployment to be Available,
    # which the harness reported only once the controller process answered /readyz.
    deployments = check_deployed(staging)
    assert {d["metadata"]["name"] for d in deployments} == set(staging.kubelet.running)
    for obj in deployments:
        assert "pulumi.com/skipAwait" not in (obj["metadata"].get("annotations") or {})
    outputs = json.loads(staging.project.run("stack", "output", "--json", "--stack", STACK).stdout)
    assert len(outputs["helm_releases"]) == len(rendered(staging, "HelmRelease")) == 10
    assert len(outputs["kustomizations"]) == len(rendered(staging, "Kustomization")) == 2


def test_the_stack_file_differs_from_the_shipped_one_only_in_urls(
    staging: shipped.Shipped,
) -> None:
    assert shipped.non_url_differences(staging.original, staging.derived) == []
    written = staging.project.dir / f"Pulumi.{STACK}.yaml"
    on_disk = yaml.safe_load(written.read_text())
    # `pulumi config set --secret` added the Git credentials (ciphertext) and nothing else
    on_disk["config"].pop("gitops:gitCredentials")
    on_disk.pop("encryptionsalt", None)
    assert shipped.non_url_differences(staging.original, on_disk) == []
    sources = on_disk["config"]["gitops:sources"]
    assert all(s["url"].startswith(staging.charts.base) for s in sources.values())


def test_every_release_and_kustomization_is_ready_in_dependency_order(
    staging: shipped.Shipped,
) -> None:
    checked = check_dependency_order(staging)
    assert checked >= 10, checked


def test_crd_objects_are_created_only_after_the_chart_bringing_the_crd_is_ready(
    staging: shipped.Shipped,
) -> None:
    checked = check_crd_objects_after_their_chart(staging)
    assert sorted(checked["monitoring-kube-prometheus-stack"]) == [
        "PodMonitor/flux-system",
        "PrometheusRule/flux",
    ]
    assert checked["infrastructure-cert-manager"] == ["ClusterIssuer/selfsigned"]
    assert sorted(checked["infrastructure-metallb"]) == ["IPAddressPool/lan", "L2Advertisement/lan"]


def test_the_stand_in_charts_installed_their_projects_crds(staging: shipped.Shipped) -> None:
    kube = staging.plane.kube
    with_crds = [c for c in staging.charts.charts if c.crd_names]
    assert {c.pin.chart for c in with_crds} >= {"cert-manager", "metallb", "traefik", "flagger"}
    for chart in with_crds:
        for name in chart.crd_names:
            crd = kube.get("CustomResourceDefinition", name)
            assert crd is not None, f"{chart.pin.chart}: CRD {name} missing"
            assert condition(crd, "Established")["status"] == "True"
    for pin in staging.pins:
        cm = kube.get(
            "ConfigMap", STANDIN_CONFIGMAP.format(release=pin.release_name), pin.namespace
        )
        assert cm is not None and cm["data"]["version"] == pin.version, pin


def test_helm_controller_reverts_a_change_to_an_object_of_a_release(
    staging: shipped.Shipped,
) -> None:
    kube = staging.plane.kube
    for doc in rendered(staging, "HelmRelease"):
        assert kube.get("HelmRelease", doc["metadata"]["name"], NS)["spec"]["driftDetection"] == {
            "mode": "enabled"
        }
    pin = next(p for p in staging.pins if p.chart == "metallb")
    name = STANDIN_CONFIGMAP.format(release=pin.release_name)
    before = kube.get("ConfigMap", name, pin.namespace)
    kube.merge_patch("ConfigMap", name, pin.namespace, {"data": {"version": "edited"}})
    assert kube.get("ConfigMap", name, pin.namespace)["data"]["version"] == "edited"
    # `flux reconcile helmrelease`: the next reconcile compares the cluster with the release
    kube.merge_patch(
        "HelmRelease",
        pin.release,
        NS,
        {"metadata": {"annotations": {REQUESTED_AT: str(time.time())}}},
    )
    restored = wait_until(
        f"helm-controller to revert ConfigMap {pin.namespace}/{name}",
        lambda: (
            (cm := kube.get("ConfigMap", name, pin.namespace))
            and cm["data"]["version"] == pin.version
            and cm
        ),
        timeout=120,
        on_timeout=staging.kubelet.describe,
    )
    assert restored["data"] == before["data"]
    hr = wait_until(
        "the release Ready again",
        lambda: (h := kube.get("HelmRelease", pin.release, NS)) and is_ready(h) and h,
        timeout=60,
    )
    assert hr["status"]["history"][0]["version"] == 1  # corrected in place, no new revision


def test_a_failing_reconcile_reaches_the_alert_sink_and_a_signed_push_is_applied_at_once(
    staging: shipped.Shipped, tmp_path: Path
) -> None:
    """The stack's alertmanager Provider (its address the local sink) gets an error event of a
    broken commit; the Receiver applies the fix when the Git server sends a signed push."""
    kube = staging.plane.kube
    receiver = kube.get("Receiver", "github-receiver", NS)
    assert receiver is not None and is_ready(receiver)
    secret = kube.get("Secret", receiver["spec"]["secretRef"]["name"], NS)
    token = base64.b64decode(secret["data"]["token"]).decode()
    flux = staging.kubelet.flux
    staging.git.add_webhook(flux.receiver_url + receiver["status"]["webhookPath"], token)

    work = tmp_path / "clone"
    git("clone", "--quiet", staging.push_url, str(work))
    kustomization = work / "apps" / "docs" / STACK / "kustomization.yaml"
    good = kustomization.read_text()
    kustomization.write_text(good + "  - missing.yaml\n")
    git("commit", "--quiet", "-am", "e2e: refer to a missing file", cwd=work)
    git("push", "--quiet", "origin", "main", cwd=work)
    broken = git("rev-parse", "HEAD", cwd=work).strip()
    event = staging.sink.wait_for(
        "an alert for Kustomization apps-docs",
        lambda e: broken in json.dumps(e) and "apps-docs" in json.dumps(e),
    )
    assert "missing.yaml" in json.dumps(event)

    kustomization.write_text(good)
    git("commit", "--quiet", "-am", "e2e: drop the missing file", cwd=work)
    start = time.monotonic()
    git("push", "--quiet", "origin", "main", cwd=work)
    fixed = git("rev-parse", "HEAD", cwd=work).strip()
    wait_until(
        "apps-docs at the fixed commit",
        lambda: (
            (k := kube.get("Kustomization", "apps-docs", NS))
            and k["status"].get("lastAppliedRevision") == f"main@sha1:{fixed}"
            and is_ready(k)
        ),
        timeout=90,
    )
    took = time.monotonic() - start
    (delivery,) = [d for d in staging.git.deliveries if d.after == fixed]
    assert delivery.status == 200
    assert took < 30, f"{took:.0f}s: not the webhook (the GitRepository polls every 1m)"


def test_pulumi_restores_a_flux_object_edited_in_the_cluster(staging: shipped.Shipped) -> None:
    kube = staging.plane.kube
    kube.merge_patch("HelmRelease", "infrastructure-blocky", NS, {"spec": {"interval": "7m"}})
    preview = staging.project.run(
        "preview", "--refresh", "--diff", "--expect-no-changes", "--stack", STACK,
        check=False, timeout=600,
    )  # fmt: skip
    assert preview.returncode != 0
    assert '"7m" => "5m"' in preview.stdout, preview.stdout[-3000:]
    assert "1 to update" in preview.stdout
    # a plain `pulumi up --refresh`: the SDK's Flux objects carry pulumi.com/patchForce
    staging.project.run("up", "--yes", "--refresh", "--skip-preview", "--stack", STACK, timeout=600)
    assert kube.get("HelmRelease", "infrastructure-blocky", NS)["spec"]["interval"] == "5m"


def test_a_second_preview_reports_no_changes(staging: shipped.Shipped) -> None:
    no_changes(staging)


def test_destroy_leaves_nothing_but_the_crds_helm_keeps(staging: shipped.Shipped) -> None:
    kept = check_destroy(staging)
    # the CRDs of charts' crds/ folders (Traefik, prometheus-operator, Flagger) and
    # cert-manager's (crds.keep: true in its preset); MetalLB's go with its release
    names = {name for _, _, name in kept}
    assert "clusterissuers.cert-manager.io" in names
    assert "podmonitors.monitoring.coreos.com" in names
    assert not any(n.endswith(".metallb.io") for n in names)
