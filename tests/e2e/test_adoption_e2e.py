"""End to end: taking over a cluster set up the `flux bootstrap` way. A plain client (lightkube)
applies what bootstrap leaves behind: the flux-system Namespace, every object of Flux's install
manifest, the GitRepository and the Kustomization `flux-system`, with kustomize-controller as
field manager (it re-applies them from Git after bootstrap). Then a Pulumi program of the SDK's
components declares the same objects, tuned differently, and `pulumi up` runs against them:

- without `adopt`: pulumi-kubernetes' server-side apply upserts what it can (no object is
  recreated) but fails on each field kustomize-controller owns with another value;
- with `adopt` (`FluxInstallArgs.adopt`, `GitSourceArgs.adopt`, `adoption_transformation` on the
  Kustomization): the update goes through, the UIDs stay the same, nothing is deleted.

Then what `pulumi up` does to a `gitops suspend` where the stack declares `spec.suspend`.

Its own control plane (the other e2e tests share one where Pulumi made flux-system itself);
no Flux controllers run: adoption is a matter between Pulumi and the API server."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops_e2e.controlplane import ControlPlane, start_control_plane
from gitops_e2e.homelab import FLUX_MANIFEST
from gitops_e2e.pulumi import ROOT, PulumiProject
from gitops_sdk.api.release import CONTROLLERS

pytestmark = pytest.mark.e2e

NS = "flux-system"
STACK = "adopt"
MANAGER = "kustomize-controller"
COMPONENTS = list(CONTROLLERS)  # every Flux controller, as bootstrap installs them
GIT_URL = "https://git.example.test/fleet.git"
PROGRAM = '''"""Takes over a bootstrapped Flux (test_adoption_e2e)."""
import os

import pulumi

from gitops_sdk import (
    FluxInstall, FluxInstallArgs, GitRepository, GitSource, GitSourceArgs, Kustomization, register,
)
from gitops_sdk.components.flux_install import adoption_transformation
from gitops_sdk.services.install_manifest import load_manifest

config = pulumi.Config("adopt")
adopt = config.require_bool("adopt")
settings = FluxInstallArgs(
    manifest=os.environ["GITOPS_FLUX_MANIFEST"],
    components=COMPONENTS,
    scheduling={"architectures": ["amd64"]},
    defaults={"concurrent": 3},
    wait=False,
    adopt=adopt,
)
flux = FluxInstall("flux", FluxInstallArgs.from_settings(settings, docs=load_manifest(settings)))
repo = GitRepository(
    name="flux-system", namespace="flux-system", url=GIT_URL, interval="1m",
    ref={"branch": "main"}, secret_ref={"name": "flux-system"},
)
GitSource(
    "flux-system",
    GitSourceArgs(repository=repo, depends_on=flux.ready, wait=False, adopt=adopt),
)
after_flux = pulumi.ResourceOptions(depends_on=flux.ready)
take_over = [adoption_transformation({("Kustomization", "flux-system")})] if adopt else None
bootstrapped = pulumi.ResourceOptions(depends_on=flux.ready, transformations=take_over)
suspend = config.get_bool("suspend")
register(
    Kustomization(
        name="flux-system", namespace="flux-system", interval="10m", path="./clusters/e2e",
        prune=True, source_ref=repo, suspend=suspend,
    ),
    bootstrapped,
    wait=False,
)
if suspend is not None:
    # made by Pulumi, not adopted
    register(
        Kustomization(
            name="declared", namespace="flux-system", interval="10m", path="./apps",
            prune=True, source_ref=repo, suspend=suspend,
        ),
        after_flux,
        wait=False,
    )
'''


def bootstrap_objects() -> list[dict[str, Any]]:
    """What `flux bootstrap` leaves on a cluster: the install manifest as released, and the
    sync objects of gotk-sync.yaml."""
    docs = [d for d in yaml.safe_load_all(FLUX_MANIFEST.read_text()) if d]
    sync = [
        {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {"name": "flux-system", "namespace": NS},
            "spec": {
                "interval": "1m0s",
                "ref": {"branch": "main"},
                "secretRef": {"name": "flux-system"},
                "url": GIT_URL,
            },
        },
        {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": "flux-system", "namespace": NS},
            "spec": {
                "interval": "10m0s",
                "path": "./clusters/e2e",
                "prune": True,
                "sourceRef": {"kind": "GitRepository", "name": "flux-system"},
            },
        },
    ]
    return docs + sync


def key(obj: Any) -> tuple[str, str, str]:
    meta = obj["metadata"] if isinstance(obj, dict) else obj.metadata
    kind = obj["kind"] if isinstance(obj, dict) else obj.kind
    name = meta["name"] if isinstance(meta, dict) else meta.name
    ns = (meta.get("namespace") if isinstance(meta, dict) else meta.namespace) or ""
    return kind, ns, name


class Live:
    """The control plane through lightkube, as a plain client would use it."""

    def __init__(self, kubeconfig: Path) -> None:
        from lightkube import Client, KubeConfig

        self.client = Client(KubeConfig.from_file(kubeconfig), field_manager=MANAGER)

    def apply_all(self, docs: list[dict[str, Any]]) -> None:
        from lightkube import codecs

        # CRDs before the objects of their kinds; the Namespace first
        order = {"Namespace": 0, "CustomResourceDefinition": 1}
        for doc in sorted(docs, key=lambda d: order.get(d["kind"], 2)):
            (obj,) = codecs.load_all_yaml(yaml.safe_dump(doc), create_resources_for_crds=True)
            self.client.apply(obj, force=True)

    def get(self, doc: dict[str, Any]) -> Any | None:
        from lightkube import ApiError
        from lightkube.core.resource_registry import resource_registry

        kind, ns, name = key(doc)
        res = resource_registry.load(doc["apiVersion"], kind)
        try:
            return self.client.get(res, name, namespace=ns or None)
        except ApiError as err:
            if err.status.code == 404:
                return None
            raise

    def uids(self, docs: list[dict[str, Any]]) -> dict[tuple[str, str, str], str | None]:
        found = {}
        for doc in docs:
            obj = self.get(doc)
            found[key(doc)] = obj.metadata.uid if obj is not None else None
        return found


@pytest.fixture(scope="module")
def plane(toolchain: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    plane = start_control_plane(tmp_path_factory.mktemp("adopt-plane"))
    try:
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="module")
def project(plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> PulumiProject:
    root = tmp_path_factory.mktemp("adopt-root")
    (root / "stacks").mkdir()
    program = PROGRAM.replace("GIT_URL", repr(GIT_URL)).replace("COMPONENTS", repr(COMPONENTS))
    (root / "stacks" / "__main__.py").write_text(program)
    (root / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    work = tmp_path_factory.mktemp("adopt-work")
    proj = PulumiProject(
        work,
        kubeconfig=plane.kubeconfig,
        env={"GITOPS_FLUX_MANIFEST": str(FLUX_MANIFEST)},
        root=root,
    )
    proj.run("stack", "init", STACK, timeout=60)
    return proj


def configure(project: PulumiProject, **values: str) -> None:
    project.write_stack_file(STACK, {"config": {f"adopt:{k}": v for k, v in values.items()}})


def annotations(obj: Any) -> dict[str, str]:
    return dict(obj.metadata.annotations or {})


def managers(obj: Any) -> list[str]:
    return [m.manager for m in obj.metadata.managedFields or []]


def test_pulumi_up_takes_over_a_bootstrapped_flux_without_recreating_it(
    plane: ControlPlane, project: PulumiProject
) -> None:
    live = Live(plane.kubeconfig)
    docs = bootstrap_objects()
    live.apply_all(docs)
    before = live.uids(docs)
    assert all(before.values()), before

    # Without adopt: the objects are upserted, but every field kustomize-controller applied
    # with another value than the stack's is a conflict.
    configure(project, adopt="false")
    plain = project.run("up", "--yes", "--skip-preview", "--stack", STACK, timeout=600, check=False)
    assert plain.returncode != 0
    out = plain.stdout + plain.stderr
    assert "conflict" in out.lower() and MANAGER in out, out[-3000:]
    assert "already exists" not in out, out[-3000:]
    assert live.uids(docs) == before  # nothing recreated

    configure(project, adopt="true")
    up = project.run("up", "--yes", "--skip-preview", "--stack", STACK, timeout=600)
    assert "conflict" not in (up.stdout + up.stderr).lower()
    assert live.uids(docs) == before  # same objects: nothing deleted, nothing recreated

    for doc in docs:
        kind, _, name = key(doc)
        if kind == "Deployment" and name not in COMPONENTS:
            continue
        obj = live.get(doc)
        assert annotations(obj).get("pulumi.com/patchForce") == "true", key(doc)
        assert annotations(obj).get("kustomize.toolkit.fluxcd.io/prune") == "disabled", key(doc)
        assert any(m.startswith("pulumi-kubernetes") for m in managers(obj)), (
            key(doc),
            managers(obj),
        )
    meta = {"name": "kustomize-controller", "namespace": NS}
    deployment = live.get({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta})
    (container,) = [c for c in deployment.spec.template.spec.containers if c.name == "manager"]
    assert "--concurrent=3" in container.args  # the stack's tuning won over bootstrap's
    state = project.export(STACK)["deployment"]["resources"]
    types = {r["type"] for r in state}
    assert {
        "kubernetes:core/v1:Namespace",
        "kubernetes:apps/v1:Deployment",
        "kubernetes:source.toolkit.fluxcd.io/v1:GitRepository",
        "kubernetes:kustomize.toolkit.fluxcd.io/v1:Kustomization",
    } <= types
    again = project.run("preview", "--stack", STACK, "--expect-no-changes", check=False)
    assert again.returncode == 0, again.stdout[-3000:]


def gitops(plane: ControlPlane, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": str(plane.kubeconfig)}
    return subprocess.run(
        [str(Path(sys.executable).parent / "gitops"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_pulumi_up_and_a_suspend_of_a_field_the_stack_declares(
    plane: ControlPlane, project: PulumiProject
) -> None:
    """The stack declares `suspend: false`; `gitops suspend` takes the field over (another field
    manager). A plain `pulumi up` does not look at the cluster: no diff, the suspension stays.
    `pulumi up --refresh` sees it and sets both back to false: Pulumi owns them (patch force),
    the adopted one and the one it made alike."""
    live = Live(plane.kubeconfig)
    configure(project, adopt="true", suspend="false")
    project.run("up", "--yes", "--skip-preview", "--stack", STACK, timeout=600)

    def suspended(name: str) -> Any:
        obj = live.get({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                        "metadata": {"name": name, "namespace": NS}})  # fmt: skip
        return obj["spec"].get("suspend")

    assert suspended("flux-system") is False and suspended("declared") is False
    for name in ("flux-system", "declared"):
        result = gitops(plane, "suspend", f"ks/{name}")
        assert result.returncode == 0, result.stderr
    plain = project.run("up", "--yes", "--skip-preview", "--stack", STACK, timeout=600)
    assert "unchanged" in plain.stdout
    assert suspended("flux-system") is True and suspended("declared") is True

    refresh = project.run(
        "up", "--yes", "--refresh", "--skip-preview", "--stack", STACK, timeout=600
    )
    assert "conflict" not in refresh.stdout.lower()
    assert suspended("flux-system") is False and suspended("declared") is False
