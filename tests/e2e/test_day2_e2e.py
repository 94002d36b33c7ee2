"""End to end: `gitops status`, `reconcile`, `suspend` and `resume` against the e2e control
plane, run as the `gitops` console script with KUBECONFIG set (the kubeconfig found as the flux
CLI finds it), on the deployment the other e2e tests share; and what `pulumi up` does to an
object someone suspended. Every test leaves the objects as it found them (resumed, Ready)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from gitops_e2e.controlplane import ControlPlane
from gitops_e2e.flux import FluxControllers
from gitops_e2e.homelab import FLUX_MANIFEST
from gitops_e2e.kube import Kube, condition, is_ready
from gitops_e2e.procs import wait_until

from .e2e_support import Deployed

pytestmark = pytest.mark.e2e

T = TypeVar("T")
NS = "flux-system"
REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"
GITOPS = Path(sys.executable).parent / "gitops"
DECLARED = [
    "GitRepository/flux-system",
    "Kustomization/infrastructure",
    "Kustomization/apps",
    "Receiver/github-receiver",
    "Provider/sink",
    "Alert/e2e-errors",
]
"""The Flux objects the e2e stack declares."""


def gitops(
    plane: ControlPlane, *args: str, project: Path | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "KUBECONFIG": str(plane.kubeconfig),
        "GITOPS_FLUX_MANIFEST": str(FLUX_MANIFEST),
        "NO_COLOR": "1",
    }
    argv = [str(GITOPS)]
    if project is not None:
        argv += ["--project-dir", str(project)]
    return subprocess.run(
        [*argv, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def eventually(what: str, check: Callable[[], T | None], timeout: float = 120) -> T:
    return wait_until(what, check, timeout=timeout, interval=0.25)


def all_ready(kube: Kube) -> None:
    for ref in ("GitRepository/flux-system", "Kustomization/infrastructure", "Kustomization/apps"):
        kind, name = ref.split("/")
        eventually(f"{ref} Ready", lambda k=kind, n=name: is_ready(kube.get(k, n, NS)) or None)


def rows(stdout: str) -> dict[str, list[str]]:
    """`gitops status` table rows by NAME column."""
    lines = stdout.strip().splitlines()
    return {line.split()[1]: line.split() for line in lines[1:]}


def test_status_lists_every_declared_flux_object_ready(
    deployed: Deployed, flux: FluxControllers, control_plane: ControlPlane
) -> None:
    result = gitops(
        control_plane, "status", "--stack", deployed.stack, "--watch", "--timeout", "150s",
        project=deployed.project.dir,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all 6 Flux objects Ready" in result.stderr
    again = gitops(control_plane, "status", "--stack", deployed.stack, project=deployed.project.dir)
    assert again.returncode == 0, again.stderr
    table = rows(again.stdout)
    assert sorted(table) == sorted(DECLARED)
    repo = control_plane.kube.get("GitRepository", "flux-system", NS)
    assert repo is not None
    revision = repo["status"]["artifact"]["revision"]
    git = table["GitRepository/flux-system"]
    assert git[:5] == ["flux-system", "GitRepository/flux-system", "True", "False", revision]
    assert table["Kustomization/apps"][2:5] == ["True", "False", revision]
    assert table["Alert/e2e-errors"][2] == "-"  # v1beta3: no Ready condition
    assert again.stdout.splitlines()[1].split()[1] == "GitRepository/flux-system"  # sources first


def test_status_exits_non_zero_for_an_object_missing_from_the_cluster(
    deployed: Deployed, flux: FluxControllers, control_plane: ControlPlane, tmp_path: Path
) -> None:
    """A stack that declares one more layer than the cluster has: that row says Missing."""
    project = tmp_path / "project"
    project.mkdir()
    for name in ("Pulumi.yaml", f"Pulumi.{deployed.stack}.yaml"):
        (project / name).write_text((deployed.project.dir / name).read_text())
    (project / "stacks").symlink_to(deployed.project.dir / "stacks")
    stack_file = project / f"Pulumi.{deployed.stack}.yaml"
    doc = yaml.safe_load(stack_file.read_text())
    doc["config"]["gitops:layers"]["extra"] = {"dependsOn": ["apps"]}
    stack_file.write_text(yaml.safe_dump(doc, sort_keys=False))
    result = gitops(control_plane, "status", "--stack", deployed.stack, project=project)
    assert result.returncode == 1, result.stdout + result.stderr
    assert rows(result.stdout)["Kustomization/extra"][2:4] == ["Missing", "False"]
    assert "1 of 7 Flux objects not Ready: Kustomization/flux-system/extra (Missing)" in (
        result.stderr
    )
    waited = gitops(
        control_plane, "status", "--stack", deployed.stack, "--watch", "--timeout", "3s",
        project=project,
    )  # fmt: skip
    assert waited.returncode == 1
    assert "timed out after 3s: 1 of 7 Flux objects not Ready" in waited.stderr


def test_reconcile_with_source_requests_and_waits_for_both(
    deployed: Deployed, flux: FluxControllers, control_plane: ControlPlane
) -> None:
    kube = control_plane.kube
    all_ready(kube)
    result = gitops(control_plane, "reconcile", "ks/apps", "--with-source", "--timeout", "90s")
    assert result.returncode == 0, result.stdout + result.stderr
    repo = kube.get("GitRepository", "flux-system", NS)
    apps = kube.get("Kustomization", "apps", NS)
    assert repo is not None and apps is not None
    for obj in (repo, apps):
        token = obj["metadata"]["annotations"][REQUESTED_AT]
        assert obj["status"]["lastHandledReconcileAt"] == token
    # the source first: its request is older than the Kustomization's
    assert (
        repo["metadata"]["annotations"][REQUESTED_AT]
        < apps["metadata"]["annotations"][REQUESTED_AT]
    )
    revision = apps["status"]["lastAppliedRevision"]
    assert result.stdout.splitlines() == [
        f"GitRepository flux-system/flux-system reconciled: Ready, revision {revision}",
        f"Kustomization flux-system/apps reconciled: Ready, revision {revision}",
    ]


def test_reconcile_of_what_is_not_there_is_one_line(
    deployed: Deployed, control_plane: ControlPlane
) -> None:
    missing = gitops(control_plane, "reconcile", "Kustomization/nope")
    assert missing.returncode == 2
    assert missing.stderr == (
        "gitops: Kustomization flux-system/nope not found on the cluster (context e2e)\n"
    )
    no_source = gitops(control_plane, "reconcile", "gitrepo/flux-system", "--with-source")
    assert no_source.returncode == 2
    assert "--with-source: it has no source (sourceRef) to reconcile" in no_source.stderr
    other = gitops(control_plane, "suspend", "ks/apps", "--context", "elsewhere")
    assert other.returncode == 2
    assert other.stderr == (
        f"gitops: kubeconfig {control_plane.kubeconfig}: no context 'elsewhere' (contexts: e2e)\n"
    )


def _suspend(obj: dict[str, Any] | None) -> Any:
    return ((obj or {}).get("spec") or {}).get("suspend")


def test_suspend_survives_pulumi_up_and_resume_reconciles(
    deployed: Deployed, flux: FluxControllers, control_plane: ControlPlane
) -> None:
    """The stack declares no spec.suspend: Pulumi's server-side apply leaves the field, which
    another field manager set, alone; `pulumi up --refresh` neither conflicts nor resets it."""
    kube = control_plane.kube
    all_ready(kube)
    result = gitops(control_plane, "suspend", "Kustomization/apps")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Kustomization flux-system/apps suspended\n"
    assert "`pulumi up`" in result.stderr
    assert _suspend(kube.get("Kustomization", "apps", NS)) is True
    refused = gitops(control_plane, "reconcile", "ks/apps")
    assert refused.returncode == 2
    assert "is suspended; run `gitops resume Kustomization/apps` instead" in refused.stderr
    status = gitops(
        control_plane, "status", "--stack", deployed.stack, project=deployed.project.dir
    )
    assert rows(status.stdout)["Kustomization/apps"][2:4] == ["True", "True"]
    managers = [
        m["manager"]
        for m in kube.get("Kustomization", "apps", NS)["metadata"]["managedFields"]
        if "f:suspend" in str(m.get("fieldsV1"))
    ]
    assert managers == ["gitops-cli"]

    stack = ("--stack", deployed.stack)
    preview = deployed.project.run(
        "preview", "--refresh", "--diff", "--expect-no-changes", *stack, check=False
    )
    up = deployed.project.run("up", "--yes", "--refresh", "--skip-preview", *stack, check=False)
    after_up = kube.get("Kustomization", "apps", NS)
    # resume before asserting, so a failure here leaves the shared deployment reconciling
    resumed = gitops(control_plane, "resume", "ks/apps", "--timeout", "90s")
    assert preview.returncode == 0, preview.stdout[-3000:]
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-2000:]
    assert _suspend(after_up) is True  # pulumi up left the suspension in place
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert resumed.stdout.splitlines()[0] == "Kustomization flux-system/apps resumed"
    apps = kube.get("Kustomization", "apps", NS)
    assert apps is not None and "suspend" not in apps["spec"]  # removed, as flux resume does
    assert apps["status"]["lastHandledReconcileAt"] == apps["metadata"]["annotations"][REQUESTED_AT]
    assert condition(apps) is not None and is_ready(apps)
