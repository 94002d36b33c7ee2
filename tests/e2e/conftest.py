"""Fixtures of the end-to-end tests (marker `e2e`): a local control plane (etcd +
kube-apiserver), a Git server over HTTP that calls webhooks on push, an HTTP sink for alerts, the
real program deployed with the real `pulumi` CLI, and the Flux controllers its Deployments
describe, run as local processes with those Deployments' args and env. Binaries come from
e2e/bin (`e2e/build.sh`); without them the tests are skipped, naming what is missing.

Everything runs on 127.0.0.1 with random ports, under one temp dir whose `logs/` is listed (with
the tail of each log) in the report of a failing test."""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gitops_e2e import homelab
from gitops_e2e.charts import CRD_DIR
from gitops_e2e.controlplane import ControlPlane, start_control_plane
from gitops_e2e.flux import FluxControllers, start_flux
from gitops_e2e.gitserver import Webhook, start_git_server
from gitops_e2e.homelab import FLUX_MANIFEST, AgeKey
from gitops_e2e.kube import is_ready
from gitops_e2e.procs import BIN, missing_binaries, tail, wait_until
from gitops_e2e.pulumi import PulumiProject
from gitops_e2e.sink import EventSink
from gitops_sdk.services import stack_files

from .e2e_support import (
    GIT_CREDENTIALS,
    RECEIVER,
    RECEIVER_SECRET,
    SECRET_VALUE,
    STACK,
    ConfigRepo,
    Deployed,
)

ROOT = Path(__file__).resolve().parents[2]

CONTROLLERS = [
    "source-controller",
    "kustomize-controller",
    "helm-controller",
    "notification-controller",
]
"""The e2e stack's `gitops:flux.components`, as binaries."""
TOOLS = [
    "etcd",
    "kube-apiserver",
    *CONTROLLERS,
    # the shipped stacks' image automation (test_shipped_*_e2e.py)
    "image-reflector-controller",
    "image-automation-controller",
    "pulumi",
    "pulumi-language-python",
    "pulumi-resource-kubernetes",
]
_work_dir: Path | None = None


def stack_makes_git_secret() -> bool:
    """Whether the program turns secret config `gitops:gitCredentials` into the GitRepository's
    Secret (then the Git server asks for basic auth and the test checks the state hides it)."""
    return "gitCredentials" in stack_files.SECRET_KEYS


def _skip_reason(tools: list[str] = TOOLS) -> str | None:
    missing = missing_binaries(tools)
    if missing:
        return (
            f"e2e toolchain incomplete: {', '.join(missing)} missing from {BIN} "
            "(build it with e2e/build.sh)"
        )
    if not (CRD_DIR / "cert-manager" / "SOURCE").is_file():
        return f"the stand-in charts' CRDs are missing from {CRD_DIR} (e2e/build.sh chart-crds)"
    if not FLUX_MANIFEST.is_file():
        return f"needs the Flux install manifest at {FLUX_MANIFEST}"
    if shutil.which("git") is None:
        return "needs git on PATH (git http-backend serves the config repository)"
    return None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.failed and _work_dir is not None:
        parts = [f"e2e work dir: {_work_dir}"]
        # the session's logs/, and those of each shipped stack's own control plane
        for log in sorted(_work_dir.glob("logs/*.log")) + sorted(_work_dir.glob("*/logs/*.log")):
            parts.append(f"--- {log} (tail)\n{tail(log, 25)}")
        report.sections.append(("e2e logs", "\n".join(parts)))
    return report


@pytest.fixture(scope="session")
def toolchain() -> Path:
    """e2e/bin, complete; otherwise every test using it is skipped, naming what is missing."""
    reason = _skip_reason()
    if reason is not None:
        if os.environ.get("GITOPS_E2E_REQUIRE") == "1":
            pytest.fail(f"GITOPS_E2E_REQUIRE=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    return BIN


@pytest.fixture(scope="session")
def e2e_work(toolchain: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    global _work_dir
    _work_dir = tmp_path_factory.mktemp("e2e")
    return _work_dir


@pytest.fixture(scope="session")
def control_plane(e2e_work: Path) -> Iterator[ControlPlane]:
    plane = start_control_plane(e2e_work)
    try:
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="session")
def age_key() -> AgeKey:
    return homelab.new_age_key()


@pytest.fixture(scope="session")
def config_repo(e2e_work: Path, age_key: AgeKey) -> Iterator[ConfigRepo]:
    """The config repository over HTTP; behind basic auth when the stack can make the source
    Secret from secret config (`gitops:gitCredentials`)."""
    credentials = GIT_CREDENTIALS if stack_makes_git_secret() else None
    server = start_git_server(e2e_work, credentials)
    try:
        seed = homelab.seed_repo(e2e_work / "seed", age_key, SECRET_VALUE, STACK)
        url = server.create_repo("fleet", seed)
        push_url = (
            url.replace("http://", "http://{}:{}@".format(*credentials)) if credentials else url
        )
        yield ConfigRepo(server, url, push_url=push_url, credentials=credentials)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def alert_sink() -> Iterator[EventSink]:
    """Where the stack's generic Provider posts alerts."""
    sink = EventSink().start()
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture(scope="session")
def deployed(
    e2e_work: Path,
    control_plane: ControlPlane,
    config_repo: ConfigRepo,
    age_key: AgeKey,
    alert_sink: EventSink,
) -> Deployed:
    """`pulumi up` of the real program with the e2e stack config; destroyed by test_destroy."""
    project = PulumiProject(
        e2e_work,
        kubeconfig=control_plane.kubeconfig,
        env={"GITOPS_FLUX_MANIFEST": str(FLUX_MANIFEST)},
        # another checkout's Pulumi.yaml and stacks/ (e.g. to try a change): GITOPS_E2E_PROJECT
        root=Path(os.environ.get("GITOPS_E2E_PROJECT") or ROOT),
    )
    doc = homelab.stack_config(
        config_repo.url, alert_sink.url, git_secret=config_repo.credentials is not None
    )
    up = homelab.deploy(project, doc, age_key, credentials=config_repo.credentials, stack=STACK)
    return Deployed(project, up)


@pytest.fixture(scope="session")
def flux(
    e2e_work: Path, control_plane: ControlPlane, deployed: Deployed
) -> Iterator[FluxControllers]:
    """The controllers of the Deployments `pulumi up` created, started once it has installed the
    Flux CRDs (controller-runtime gives up on kinds the API server does not serve)."""
    controllers = start_flux(e2e_work, control_plane.kube)
    try:
        yield controllers
    finally:
        controllers.stop()


@pytest.fixture(scope="session")
def push_webhook(
    flux: FluxControllers, control_plane: ControlPlane, config_repo: ConfigRepo
) -> Webhook:
    """The Git server calls the stack's Receiver on every push, as GitHub would once the webhook
    is registered: at notification-controller's receiver address + the Receiver's webhook path,
    signed with the token from the Secret the stack generated."""
    kube = control_plane.kube
    receiver = wait_until(
        f"Receiver {RECEIVER} Ready",
        lambda: (r := kube.get("Receiver", RECEIVER, "flux-system")) and is_ready(r) and r,
        timeout=120,
        on_timeout=flux.describe,
    )
    secret = kube.get("Secret", RECEIVER_SECRET, "flux-system")
    assert secret is not None
    token = base64.b64decode(secret["data"]["token"]).decode()
    url = flux.receiver_url + receiver["status"]["webhookPath"]
    return config_repo.server.add_webhook(url, token)
