"""End to end: the real program, deployed by the real `pulumi` CLI to a local kube-apiserver,
reconciled by the Flux controllers its Deployments describe (run as local processes with those
Deployments' args and env) from a local Git server that calls the stack's Receiver on push.

The tests run in file order and share one deployment (session fixtures in conftest.py); the
last one destroys it."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

from gitops_e2e.controlplane import ControlPlane
from gitops_e2e.flux import FluxControllers
from gitops_e2e.gitserver import Webhook, push_payload, send_event, signature
from gitops_e2e.kube import Kube, condition, is_ready
from gitops_e2e.pod import TRANSLATED_ENV, TRANSLATED_FLAGS, expand, flag_name
from gitops_e2e.procs import BIN, wait_until
from gitops_e2e.sink import EventSink

from .conftest import CONTROLLERS
from .e2e_support import RECEIVER, RECEIVER_SECRET, SECRET_VALUE, AgeKey, ConfigRepo, Deployed

pytestmark = pytest.mark.e2e

T = TypeVar("T")
NS = "flux-system"
LAYERS = ["infrastructure", "apps"]
"""The e2e stack's layers, in dependency order (apps dependsOn infrastructure)."""
SECRET_SIG = "4dabf18193072939515e22adb298388d"
"""How Pulumi marks a secret value in state: {"<sig>": "1lnr5...", "ciphertext": ...}."""
INTERVAL = "10m"
"""The e2e stack's GitRepository interval: only the webhook explains an apply within seconds."""
FAST = 60
"""Seconds within which a webhook-triggered commit must be applied (the interval is 600)."""
REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"


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
        interval=0.25,
        on_timeout=lambda: flux_state(kube) + "\n" + flux.describe(),
    )


def first_applied(obj: dict[str, Any] | None) -> datetime:
    """When the Kustomization first applied a revision. Not its Ready condition's transition
    time: every later reconcile at the interval moves that one."""
    history = ((obj or {}).get("status") or {}).get("history") or []
    assert history, f"no status.history yet: {obj}"
    return min(datetime.fromisoformat(h["firstReconciled"].replace("Z", "+00:00")) for h in history)


def outputs(deployed: Deployed) -> dict[str, Any]:
    result = deployed.project.run("stack", "output", "--json", "--stack", deployed.stack)
    return dict(json.loads(result.stdout))


def applied(kube: Kube, sha: str) -> Callable[[], dict[str, Any] | None]:
    """Kustomization apps Ready at commit `sha`."""

    def check() -> dict[str, Any] | None:
        k = kube.get("Kustomization", "apps", NS)
        at = k and k.get("status", {}).get("lastAppliedRevision") == f"main@sha1:{sha}"
        return k if at and is_ready(k) else None

    return check


def demo(greeting: str) -> str:
    return (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo\n  namespace: e2e-apps\n"
        f"data:\n  greeting: {greeting}\n"
    )


def test_up_registers_flux_and_the_stack_objects(
    deployed: Deployed, control_plane: ControlPlane, config_repo: ConfigRepo
) -> None:
    kube = control_plane.kube
    assert "error" not in deployed.up.stderr.lower(), deployed.up.stderr
    for crd in (
        "gitrepositories.source.toolkit.fluxcd.io",
        "kustomizations.kustomize.toolkit.fluxcd.io",
        "helmreleases.helm.toolkit.fluxcd.io",
        "receivers.notification.toolkit.fluxcd.io",
    ):
        assert kube.get("CustomResourceDefinition", crd), crd
    for name in CONTROLLERS:
        deployment = kube.get("Deployment", name, NS)
        assert deployment is not None, name
        annotations = deployment["metadata"].get("annotations", {})
        assert annotations.get("pulumi.com/skipAwait") == "true"  # gitops:flux.wait: false
    repo = kube.get("GitRepository", "flux-system", NS)
    assert repo is not None
    assert repo["spec"]["url"] == config_repo.url
    assert repo["spec"]["ref"] == {"branch": "main"}
    assert repo["spec"]["interval"] == INTERVAL
    infra = kube.get("Kustomization", "infrastructure", NS)
    apps = kube.get("Kustomization", "apps", NS)
    assert infra and apps
    assert infra["spec"]["path"] == "./infrastructure"
    assert infra["spec"]["sourceRef"] == {"kind": "GitRepository", "name": "flux-system"}
    assert apps["spec"]["dependsOn"] == [{"name": "infrastructure"}]
    assert apps["spec"]["decryption"] == {"provider": "sops", "secretRef": {"name": "sops-age"}}
    assert kube.get("Secret", "sops-age", NS) is not None
    receiver = kube.get("Receiver", RECEIVER, NS)
    assert receiver is not None
    assert receiver["spec"]["type"] == "github"
    assert receiver["spec"]["events"] == ["push"]
    assert receiver["spec"]["resources"] == [{"kind": "GitRepository", "name": "flux-system"}]
    assert receiver["spec"]["secretRef"] == {"name": RECEIVER_SECRET}
    assert kube.get("Secret", RECEIVER_SECRET, NS) is not None
    assert kube.get("Provider", "sink", NS)["spec"]["type"] == "generic"
    assert kube.get("Alert", "e2e-errors", NS)["spec"]["providerRef"] == {"name": "sink"}
    out = outputs(deployed)
    assert out["source"] == config_repo.url
    assert sorted(out["kustomizations"]) == sorted(LAYERS)
    assert re.fullmatch(r"/hook/[0-9a-f]{64}", out["receiver_webhook_path"])


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
    assert first_applied(layers["infrastructure"]) <= first_applied(layers["apps"])
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


def _proc_strings(pid: int, what: str) -> list[str]:
    return [s.decode() for s in Path(f"/proc/{pid}/{what}").read_bytes().split(b"\0") if s]


def _translated_arg_is_local(arg: str, work: Path) -> bool:
    flag, _, value = arg.partition("=")
    if flag == "--enable-leader-election":
        return value == "false"
    if flag == "--storage-path":
        return Path(value).is_relative_to(work)
    return bool(value == "" or re.fullmatch(r"(http://)?127\.0\.0\.1:[0-9]+/?", value))


def test_the_controllers_run_exactly_what_the_deployments_say(
    flux: FluxControllers, control_plane: ControlPlane, e2e_work: Path
) -> None:
    """Each controller process has its Deployment's args and env (read back from the API server
    now, not the harness's copy), but for the documented translations: loopback addresses,
    folders for emptyDir volumes, leader election off, kubeconfig/PATH/HOME/TMPDIR."""
    kube = control_plane.kube
    assert sorted(flux.controllers) == sorted(CONTROLLERS)  # gitops:flux.components
    for name, controller in flux.controllers.items():
        deployment = kube.get("Deployment", name, NS)
        assert deployment is not None
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        mounts = [m["mountPath"] for m in container.get("volumeMounts") or []]
        pid = controller.proc.popen.pid
        argv, environ = _proc_strings(pid, "cmdline"), _proc_strings(pid, "environ")
        env = dict(e.split("=", 1) for e in environ)
        assert argv[0] == str(BIN / name)
        rendered = [expand(a, {"RUNTIME_NAMESPACE": NS}) for a in container["args"]]

        def kept(args: list[str]) -> list[str]:
            return [a for a in args if flag_name(a) not in TRANSLATED_FLAGS]

        assert kept(argv[1:]) == kept(rendered), name
        translated = [a for a in argv[1:] if flag_name(a) in TRANSLATED_FLAGS]
        assert all(_translated_arg_is_local(a, e2e_work) for a in translated), translated
        # The stack's tuning, as rendered, is what runs.
        assert "--concurrent=3" in argv
        assert (
            "--log-level=debug" if name == "notification-controller" else "--log-level=info"
        ) in argv
        if name != "notification-controller":
            assert "--requeue-dependency=2s" in argv
        if name != "source-controller":
            assert "--no-cross-namespace-refs=true" in argv
        # Env: the Deployment's, resolved as the kubelet would; nothing else but the documented.
        for entry in container.get("env") or []:
            value = env[entry["name"]]
            if "value" in entry:
                under = [m for m in mounts if entry["value"].startswith(m)]
                assert value == entry["value"] or (under and Path(value).is_relative_to(e2e_work))
        assert env["RUNTIME_NAMESPACE"] == NS
        assert container["resources"]["limits"]["memory"] == "384Mi"
        assert env["GOMEMLIMIT"] == str(384 * 2**20)
        assert set(env) - {e["name"] for e in container.get("env") or []} <= set(TRANSLATED_ENV)
        # Run as the Deployment's service account: the kubeconfig holds its token.
        assert Path(env["KUBECONFIG"]).is_relative_to(e2e_work / "flux" / name)


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


def test_a_signed_push_event_reconciles_at_once_and_a_forged_one_is_refused(
    flux: FluxControllers,
    control_plane: ControlPlane,
    config_repo: ConfigRepo,
    deployed: Deployed,
    push_webhook: Webhook,
    tmp_path: Path,
) -> None:
    kube = control_plane.kube
    receiver = kube.get("Receiver", RECEIVER, NS)
    path = receiver["status"]["webhookPath"]
    token = push_webhook.secret
    assert path == "/hook/" + hashlib.sha256(f"{token}{RECEIVER}{NS}".encode()).hexdigest()
    assert outputs(deployed)["receiver_webhook_path"] == path  # the stack says where to point
    url = push_webhook.url
    before = config_repo.head()
    with config_repo.server.webhooks_paused():  # the commit is there; nobody says so yet
        sha = config_repo.push(
            tmp_path / "clone", "e2e: via webhook", {"apps/demo.yaml": demo("webhook")}
        )
    repo = kube.get("GitRepository", "flux-system", NS)
    requested = (repo["metadata"].get("annotations") or {}).get(REQUESTED_AT)
    payload = push_payload("fleet", config_repo.url, "refs/heads/main", before, sha)

    body = json.dumps(payload).encode()
    forged = send_event(url, token, "push", payload, sign=signature("not-the-token", body))
    assert forged.status_code == 400
    assert send_event(url, token, "push", payload, sign="").status_code == 400
    assert send_event(url, token, "ping", {"zen": "hi"}).status_code == 400  # events: [push]
    time.sleep(5)
    repo = kube.get("GitRepository", "flux-system", NS)
    assert (repo["metadata"].get("annotations") or {}).get(REQUESTED_AT) == requested
    assert repo["status"]["artifact"]["revision"] != f"main@sha1:{sha}"
    assert kube.get("ConfigMap", "demo", "e2e-apps")["data"] == {"greeting": "hello"}

    start = time.monotonic()
    assert send_event(url, token, "push", payload).status_code == 200
    eventually("the commit, through the webhook", applied(kube, sha), kube, flux, timeout=FAST)
    took = time.monotonic() - start
    assert took < FAST, took
    assert kube.get("ConfigMap", "demo", "e2e-apps")["data"] == {"greeting": "webhook"}
    repo = kube.get("GitRepository", "flux-system", NS)
    assert repo["metadata"]["annotations"][REQUESTED_AT] != requested


def test_a_pushed_commit_is_applied_through_the_webhook(
    flux: FluxControllers,
    control_plane: ControlPlane,
    config_repo: ConfigRepo,
    push_webhook: Webhook,
    tmp_path: Path,
) -> None:
    kube = control_plane.kube
    extra = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n  namespace: e2e-apps\n"
        "data:\n  added: by-push\n"
    )
    start = time.monotonic()
    sha = config_repo.push(
        tmp_path / "clone",
        "e2e: change demo, add extra",
        {"apps/demo.yaml": demo("pushed"), "apps/extra.yaml": extra},
        resources=["extra.yaml"],
    )
    eventually("Kustomization apps at the pushed revision", applied(kube, sha), kube, flux, FAST)
    assert time.monotonic() - start < FAST
    assert kube.get("ConfigMap", "demo", "e2e-apps")["data"] == {"greeting": "pushed"}
    assert kube.get("ConfigMap", "extra", "e2e-apps")["data"] == {"added": "by-push"}
    (delivery,) = [d for d in config_repo.server.deliveries if d.after == sha]
    assert delivery.status == 200


def test_a_failing_reconcile_reaches_the_alert_sink(
    flux: FluxControllers,
    control_plane: ControlPlane,
    config_repo: ConfigRepo,
    alert_sink: EventSink,
    push_webhook: Webhook,
    tmp_path: Path,
) -> None:
    kube = control_plane.kube
    broken = config_repo.push(
        tmp_path / "broken", "e2e: refer to a missing file", {}, resources=["missing.yaml"]
    )
    event = alert_sink.wait_for(
        "an error event for Kustomization apps",
        lambda e: (
            e.get("involvedObject", {}).get("kind") == "Kustomization"
            and e["involvedObject"].get("name") == "apps"
            and e.get("severity") == "error"
            and broken in json.dumps(e)
        ),
    )
    assert "missing.yaml" in event["message"]
    assert event["reportingController"] == "kustomize-controller"
    assert event["metadata"]["cluster"] == "e2e"  # the Alert's eventMetadata
    # Put it right again, so the stack ends where it started.
    kustomization = (tmp_path / "broken" / "apps" / "kustomization.yaml").read_text()
    fixed = config_repo.push(
        tmp_path / "fixed",
        "e2e: drop the missing file",
        {"apps/kustomization.yaml": kustomization.replace("- missing.yaml\n", "")},
    )
    eventually("Kustomization apps Ready again", applied(kube, fixed), kube, flux, FAST)


def test_pulumi_owned_drift_shows_in_a_refresh_and_up_restores_it(
    deployed: Deployed, control_plane: ControlPlane, flux: FluxControllers
) -> None:
    """An edit in the cluster (here by another field manager, as `kubectl edit` would) of a
    field Pulumi owns shows in `pulumi preview --refresh`; `pulumi up --refresh` puts it back.
    The edit took the field's ownership; the SDK's Flux objects carry `pulumi.com/patchForce`,
    so server-side apply takes it back instead of reporting a conflict."""
    kube = control_plane.kube
    kube.merge_patch("GitRepository", "flux-system", NS, {"spec": {"interval": "7m"}})
    stack = ("--stack", deployed.stack)
    preview = deployed.project.run(
        "preview", "--refresh", "--diff", "--expect-no-changes", *stack, check=False
    )
    assert preview.returncode != 0, preview.stdout
    update = preview.stdout.split("kubernetes:source.toolkit.fluxcd.io/v1:GitRepository: (update)")
    assert len(update) == 2, preview.stdout[-3000:]
    assert re.search(r'interval\s*:\s*"7m" => "10m"', update[1]), update[1][:1000]
    assert "1 to update" in preview.stdout
    assert kube.get("GitRepository", "flux-system", NS)["spec"]["interval"] == "7m"  # a preview
    up = deployed.project.run("up", "--yes", "--refresh", "--skip-preview", *stack)
    assert "conflict" not in up.stdout.lower()
    assert kube.get("GitRepository", "flux-system", NS)["spec"]["interval"] == INTERVAL


def test_preview_reports_no_changes(deployed: Deployed, flux: FluxControllers) -> None:
    result = deployed.project.run(
        "preview", "--stack", deployed.stack, "--expect-no-changes", "--diff", timeout=300
    )
    assert result.returncode == 0


def test_no_secret_is_in_plaintext_in_the_state_or_the_logs(
    deployed: Deployed,
    age_key: AgeKey,
    config_repo: ConfigRepo,
    push_webhook: Webhook,
    e2e_work: Path,
) -> None:
    state = deployed.project.export(deployed.stack)
    text = json.dumps(state)
    git_password = [config_repo.credentials[1]] if config_repo.credentials else []
    secrets = (age_key.identity, SECRET_VALUE, push_webhook.secret, *git_password)
    for value in secrets:
        assert value not in text
        assert base64.b64encode(value.encode()).decode() not in text
    stack_file = deployed.project.dir / f"Pulumi.{deployed.stack}.yaml"
    assert age_key.identity not in stack_file.read_text()
    assert push_webhook.secret not in json.dumps(outputs(deployed))
    # Nor in anything logged: pulumi runs, controllers, the Git server.
    for log in (e2e_work / "logs").glob("*.log"):
        content = log.read_text(errors="replace")
        assert not [s for s in secrets if s in content], log
    # the Secrets Pulumi made are in the state, their values only as Pulumi secrets
    names = ["sops-age", RECEIVER_SECRET, *(["flux-system"] if config_repo.credentials else [])]
    for name in names:
        (secret,) = [
            r
            for r in state["deployment"]["resources"]
            if r["type"] == "kubernetes:core/v1:Secret"
            and (r.get("outputs", {}).get("metadata") or {}).get("name") == name
        ]
        outputs_ = secret["outputs"]
        held = [outputs_[k] for k in ("data", "stringData") if outputs_.get(k) is not None]
        assert held, f"Secret {name}: no data in the state"
        assert all(isinstance(v, dict) and v.get(SECRET_SIG) for v in held), (name, held)
    (token,) = [
        r for r in state["deployment"]["resources"] if r["type"].endswith("github:WebhookToken")
    ]
    assert token["outputs"]["token"].get(SECRET_SIG)


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
        ("Receiver", RECEIVER, NS),
        ("Alert", "e2e-errors", NS),
        ("Secret", "sops-age", NS),
        ("Secret", RECEIVER_SECRET, NS),
        ("Deployment", "source-controller", NS),
        ("Deployment", "notification-controller", NS),
        ("CustomResourceDefinition", "kustomizations.kustomize.toolkit.fluxcd.io", None),
        ("CustomResourceDefinition", "gitrepositories.source.toolkit.fluxcd.io", None),
        ("CustomResourceDefinition", "receivers.notification.toolkit.fluxcd.io", None),
        ("Namespace", NS, None),
    ]:
        assert kube.get(kind, name, ns) is None, f"{kind} {ns}/{name} survived pulumi destroy"
    # Flux pruned what the layers had applied when their Kustomizations were deleted
    wait_until(
        "namespace e2e-apps pruned", lambda: kube.get("Namespace", "e2e-apps") is None, timeout=60
    )
    state = deployed.project.export(deployed.stack)
    assert not state["deployment"].get("resources"), state["deployment"].get("resources")
