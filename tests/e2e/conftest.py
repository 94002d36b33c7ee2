"""Fixtures of the end-to-end tests (marker `e2e`): a local control plane (etcd +
kube-apiserver), a Git server over HTTP, the real program deployed with the real `pulumi` CLI,
and Flux's source- and kustomize-controller as local processes. Binaries come from e2e/bin
(`e2e/build.sh`); without them the tests are skipped, naming what is missing.

Everything runs on 127.0.0.1 with random ports, under one temp dir whose `logs/` is listed (with
the tail of each log) in the report of a failing test."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops_e2e.controlplane import ControlPlane, start_control_plane
from gitops_e2e.flux import FluxControllers, start_flux
from gitops_e2e.gitserver import start_git_server
from gitops_e2e.procs import BIN, missing_binaries, tail
from gitops_e2e.pulumi import PulumiProject
from gitops_sdk.services import sops, sops_config, stack_files
from gitops_sdk.services.age import generate_age_key

from .e2e_support import GIT_CREDENTIALS, SECRET_VALUE, STACK, AgeKey, ConfigRepo, Deployed

ROOT = Path(__file__).resolve().parents[2]

TOOLS = [
    "etcd",
    "kube-apiserver",
    "source-controller",
    "kustomize-controller",
    "pulumi",
    "pulumi-language-python",
    "pulumi-resource-kubernetes",
]
FLUX_MANIFEST = ROOT.parent / "shared" / "flux-install" / "v2.9.4" / "install.yaml"
FIXTURES = ROOT / "e2e" / "fixtures"


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
    if not FLUX_MANIFEST.is_file():
        return f"needs the Flux install manifest at {FLUX_MANIFEST}"
    if shutil.which("git") is None:
        return "needs git on PATH (git http-backend serves the config repository)"
    return None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.failed and _work_dir is not None:
        logs = _work_dir / "logs"
        parts = [f"e2e work dir: {_work_dir}"]
        for log in sorted(logs.glob("*.log")) if logs.is_dir() else []:
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
    text, recipient = generate_age_key()
    identity = next(line for line in text.splitlines() if line.startswith("AGE-SECRET-KEY-"))
    return AgeKey(text, identity, recipient)


def _seed(dest: Path, age: AgeKey) -> Path:
    """The fixture repo plus a SOPS-encrypted Secret (encrypted now, for this run's age key)."""
    shutil.copytree(FIXTURES / "repo", dest)
    config = dest / ".sops.yaml"
    config.write_text(
        yaml.safe_dump({"creation_rules": sops_config.stack_rules(STACK, age.recipient)})
    )
    secret = dest / "apps" / STACK / "db.sops.yaml"
    secret.parent.mkdir(parents=True)
    secret.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "demo-db", "namespace": "e2e-apps"},
                "stringData": {"password": SECRET_VALUE},
            }
        )
    )
    assert sops.encrypt(secret, config=config)
    assert SECRET_VALUE not in secret.read_text()
    kustomization = dest / "apps" / "kustomization.yaml"
    doc = yaml.safe_load(kustomization.read_text())
    doc["resources"].append(f"{STACK}/db.sops.yaml")
    kustomization.write_text(yaml.safe_dump(doc, sort_keys=False))
    return dest


@pytest.fixture(scope="session")
def config_repo(e2e_work: Path, age_key: AgeKey) -> Iterator[ConfigRepo]:
    """The config repository over HTTP; behind basic auth when the stack can make the source
    Secret from secret config (`gitops:gitCredentials`)."""
    credentials = GIT_CREDENTIALS if stack_makes_git_secret() else None
    server = start_git_server(e2e_work, credentials)
    try:
        seed = _seed(e2e_work / "seed", age_key)
        url = server.create_repo("fleet", seed)
        push_url = (
            url.replace("http://", "http://{}:{}@".format(*credentials)) if credentials else url
        )
        yield ConfigRepo(server, url, push_url=push_url, credentials=credentials)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def deployed(
    e2e_work: Path, control_plane: ControlPlane, config_repo: ConfigRepo, age_key: AgeKey
) -> Deployed:
    """`pulumi up` of the real program with the e2e stack config; destroyed by test_destroy."""
    project = PulumiProject(
        e2e_work,
        kubeconfig=control_plane.kubeconfig,
        env={"GITOPS_FLUX_MANIFEST": str(FLUX_MANIFEST)},
        # another checkout's Pulumi.yaml and stacks/ (e.g. to try a change): GITOPS_E2E_PROJECT
        root=Path(os.environ.get("GITOPS_E2E_PROJECT") or ROOT),
    )
    doc = yaml.safe_load((FIXTURES / f"Pulumi.{STACK}.yaml").read_text())
    doc["config"]["gitops:repository"]["url"] = config_repo.url
    if config_repo.credentials:
        doc["config"]["gitops:repository"]["secretName"] = "flux-system"
    project.write_stack_file(STACK, doc)
    project.run("stack", "init", STACK, timeout=60)
    # Secrets go in as Pulumi secrets (encrypted in the stack file, never in plaintext).
    project.run("config", "set", "--secret", "--stack", STACK, "gitops:ageKey", stdin=age_key.text)
    if config_repo.credentials:
        for key, value in zip(("username", "password"), config_repo.credentials, strict=True):
            project.run(
                "config",
                "set",
                "--secret",
                "--path",
                "--stack",
                STACK,
                f"gitops:gitCredentials.{key}",
                stdin=value,
            )
    assert age_key.identity not in project.dir.joinpath(f"Pulumi.{STACK}.yaml").read_text()
    up = project.run("up", "--yes", "--skip-preview", "--stack", STACK, timeout=600)
    return Deployed(project, up)


@pytest.fixture(scope="session")
def flux(
    e2e_work: Path, control_plane: ControlPlane, deployed: Deployed
) -> Iterator[FluxControllers]:
    """The controllers start once `pulumi up` has installed the Flux CRDs (controller-runtime
    gives up on kinds the API server does not serve)."""
    controllers = start_flux(e2e_work, control_plane.kubeconfig)
    try:
        yield controllers
    finally:
        controllers.stop()
