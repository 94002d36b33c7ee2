"""End to end: the real program, deployed by the real `pulumi` CLI to a local kube-apiserver,
reconciled by the real Flux source- and kustomize-controller from a local Git server.

The tests run in file order and share one deployment (session fixtures in conftest.py); the
last one destroys it."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from gitops_e2e.controlplane import ControlPlane
from gitops_e2e.flux import FluxControllers
from gitops_e2e.gitserver import git
from gitops_e2e.kube import Kube, condition, is_ready
from gitops_e2e.procs import wait_until

from .e2e_support import SECRET_VALUE, AgeKey, ConfigRepo, Deployed

pytestmark = pytest.mark.e2e

T = TypeVar("T")
NS = "flux-system"
LAYERS = ["infrastructure", "apps"]
"""The e2e stack's layers, in dependency order (apps dependsOn infrastructure)."""
SECRET_SIG = "4dabf18193072939515e22adb298388d"
"""How Pulumi marks a secret value in state: {"<sig>": "1lnr5...", "ciphertext": ...}."""


def flux_state(kube: Kube) -> str:
    lines = []
    for kind, name in [("GitRepository", "flux-system")] + [("Kustomization", n) for n in LAYERS]:
        obj = kube.get(kind, name, NS)
        lines.append(f"{kind}/{name}: {condition(obj) if obj else 'absent'}")
    return "\n".join(lines)


def eventually(
    what: str,
    check: Callable[[], T | None],
    kube: Kube,
    flux: FluxControllers,
    timeout: float = 120,
) -> T:
    return wait_until(
        what,
        check,
        timeout=timeout,
        interval=0.5,
        on_timeout=lambda: flux_state(kube) + "\n" + flux.describe(),
    )


def ready_time(obj: dict[str, Any] | None) -> datetime:
    cond = condition(obj)
    assert cond is not None
    return datetime.fromisoformat(cond["lastTransitionTime"].replace("Z", "+00:00"))


def test_up_registers_flux_and_the_stack_objects(
    deployed: Deployed, control_plane: ControlPlane, config_repo: ConfigRepo
) -> None:
    kube = control_plane.kube
    assert "error" not in deployed.up.stderr.lower(), deployed.up.stderr
    for crd in (
        "gitrepositories.source.toolkit.fluxcd.io",
        "kustomizations.kustomize.toolkit.fluxcd.io",
    ):
        assert kube.get("CustomResourceDefinition", crd), crd
    for name in ("source-controller", "kustomize-controller"):
        deployment = kube.get("Deployment", name, NS)
        assert deployment is not None, name
        annotations = deployment["metadata"].get("annotations", {})
        assert annotations.get("pulumi.com/skipAwait") == "true"  # gitops:flux.wait: false
    repo = kube.get("GitRepository", "flux-system", NS)
    assert repo is not None
    assert repo["spec"]["url"] == config_repo.url
    assert repo["spec"]["ref"] == {"branch": "main"}
    infra = kube.get("Kustomization", "infrastructure", NS)
    apps = kube.get("Kustomization", "apps", NS)
    assert infra and apps
    assert infra["spec"]["path"] == "./infrastructure"
    assert infra["spec"]["sourceRef"] == {"kind": "GitRepository", "name": "flux-system"}
    assert apps["spec"]["dependsOn"] == [{"name": "infrastructure"}]
    assert apps["spec"]["decryption"] == {"provider": "sops", "secretRef": {"name": "sops-age"}}
    assert kube.get("Secret", "sops-age", NS) is not None
    outputs = json.loads(
        deployed.project.run("stack", "output", "--json", "--stack", deployed.stack).stdout
    )
    assert outputs["source"] == config_repo.url
    assert sorted(outputs["kustomizations"]) == sorted(LAYERS)


def test_flux_reconciles_the_layers_in_dependency_order(
    flux: FluxControllers, control_plane: ControlPlane, age_key: AgeKey
) -> None:
    kube = control_plane.kube
    repo = eventually(
        "GitRepository flux-system Ready",
        lambda: (r := kube.get("GitRepository", "flux-system", NS)) and is_ready(r) and r,
        kube,
        flux,
    )
    assert repo["status"]["artifact"]["revision"].startswith("main@sha1:")
    layers = {
        name: eventually(
            f"Kustomization {name} Ready",
            lambda name=name: (k := kube.get("Kustomization", name, NS)) and is_ready(k) and k,
            kube,
            flux,
        )
        for name in LAYERS
    }
    assert ready_time(layers["infrastructure"]) <= ready_time(layers["apps"])
    assert layers["apps"]["status"]["lastAppliedRevision"] == repo["status"]["artifact"]["revision"]
    # what the layers applied: the Namespace and ConfigMaps, and the Secret Flux decrypted with
    # the age key the stack put in sops-age
    assert kube.get("Namespace", "e2e-apps") is not None
    assert kube.get("ConfigMap", "platform-settings", "e2e-apps")["data"] == {
        "tier": "infrastructure"
    }
    assert kube.get("ConfigMap", "demo", "e2e-apps")["data"] == {"greeting": "hello"}
    db = kube.get("Secret", "demo-db", "e2e-apps")
    assert db is not None
    assert base64.b64decode(db["data"]["password"]).decode() == SECRET_VALUE


def test_flux_restores_a_deleted_object(flux: FluxControllers, control_plane: ControlPlane) -> None:
    kube = control_plane.kube
    before = kube.get("ConfigMap", "demo", "e2e-apps")
    assert before is not None, "run after the reconcile test"
    kube.delete("ConfigMap", "demo", "e2e-apps")
    wait_until(
        "ConfigMap demo deleted",
        lambda: kube.get("ConfigMap", "demo", "e2e-apps") is None,
        timeout=30,
    )
    restored = eventually(
        "Flux to restore ConfigMap e2e-apps/demo",
        lambda: kube.get("ConfigMap", "demo", "e2e-apps"),
        kube,
        flux,
        timeout=90,
    )
    assert restored["data"] == {"greeting": "hello"}
    assert restored["metadata"]["uid"] != before["metadata"]["uid"]


def test_a_pushed_commit_is_applied(
    flux: FluxControllers, control_plane: ControlPlane, config_repo: ConfigRepo, tmp_path: Path
) -> None:
    kube = control_plane.kube
    clone = tmp_path / "clone"
    git("clone", "--quiet", "--branch", config_repo.branch, config_repo.push_url, str(clone))
    demo = clone / "apps" / "demo.yaml"
    demo.write_text(demo.read_text().replace("greeting: hello", "greeting: pushed"))
    (clone / "apps" / "extra.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n  namespace: e2e-apps\n"
        "data:\n  added: by-push\n"
    )
    kustomization = clone / "apps" / "kustomization.yaml"
    doc = yaml.safe_load(kustomization.read_text())
    doc["resources"].append("extra.yaml")
    kustomization.write_text(yaml.safe_dump(doc, sort_keys=False))
    git("add", "-A", cwd=clone)
    git("commit", "--quiet", "-m", "e2e: change demo, add extra", cwd=clone)
    git("push", "--quiet", "origin", config_repo.branch, cwd=clone)
    sha = git("rev-parse", "HEAD", cwd=clone).strip()

    eventually(
        "the pushed ConfigMap change",
        lambda: (
            (c := kube.get("ConfigMap", "demo", "e2e-apps")) and c["data"] == {"greeting": "pushed"}
        ),
        kube,
        flux,
    )
    assert kube.get("ConfigMap", "extra", "e2e-apps")["data"] == {"added": "by-push"}
    apps = eventually(
        "Kustomization apps at the pushed revision",
        lambda: (
            (k := kube.get("Kustomization", "apps", NS))
            and k.get("status", {}).get("lastAppliedRevision") == f"main@sha1:{sha}"
            and k
        ),
        kube,
        flux,
    )
    assert is_ready(apps)


def test_preview_reports_no_changes(deployed: Deployed, flux: FluxControllers) -> None:
    result = deployed.project.run(
        "preview", "--stack", deployed.stack, "--expect-no-changes", "--diff", timeout=300
    )
    assert result.returncode == 0


def test_stack_state_holds_no_plaintext_secret(
    deployed: Deployed, age_key: AgeKey, config_repo: ConfigRepo
) -> None:
    state = deployed.project.export(deployed.stack)
    text = json.dumps(state)
    git_password = [config_repo.credentials[1]] if config_repo.credentials else []
    for value in (age_key.identity, SECRET_VALUE, *git_password):
        assert value not in text
        assert base64.b64encode(value.encode()).decode() not in text
    stack_file = deployed.project.dir / f"Pulumi.{deployed.stack}.yaml"
    assert age_key.identity not in stack_file.read_text()
    # the Secrets Pulumi made are in the state, their values only as Pulumi secrets
    names = ["sops-age", *(["flux-system"] if config_repo.credentials else [])]
    for name in names:
        (secret,) = [
            r
            for r in state["deployment"]["resources"]
            if r["type"] == "kubernetes:core/v1:Secret"
            and (r.get("outputs", {}).get("metadata") or {}).get("name") == name
        ]
        outputs = secret["outputs"]
        held = [outputs[k] for k in ("data", "stringData") if outputs.get(k) is not None]
        assert held, f"Secret {name}: no data in the state"
        assert all(isinstance(v, dict) and v.get(SECRET_SIG) for v in held), (name, held)


def test_destroy_removes_what_pulumi_created(
    deployed: Deployed, flux: FluxControllers, control_plane: ControlPlane
) -> None:
    kube = control_plane.kube
    deployed.project.run(
        "destroy", "--yes", "--skip-preview", "--stack", deployed.stack, timeout=600
    )
    for kind, name, ns in [
        ("Kustomization", "apps", NS),
        ("Kustomization", "infrastructure", NS),
        ("GitRepository", "flux-system", NS),
        ("Secret", "sops-age", NS),
        ("Deployment", "source-controller", NS),
        ("CustomResourceDefinition", "kustomizations.kustomize.toolkit.fluxcd.io", None),
        ("CustomResourceDefinition", "gitrepositories.source.toolkit.fluxcd.io", None),
        ("Namespace", NS, None),
    ]:
        assert kube.get(kind, name, ns) is None, f"{kind} {ns}/{name} survived pulumi destroy"
    # Flux pruned what the layers had applied when their Kustomizations were deleted
    wait_until(
        "namespace e2e-apps pruned", lambda: kube.get("Namespace", "e2e-apps") is None, timeout=60
    )
    state = deployed.project.export(deployed.stack)
    assert not state["deployment"].get("resources"), state["deployment"].get("resources")
