"""The real route without a cluster: `pulumi up` of the real program with the Kubernetes
provider's render-to-directory mode (GITOPS_RENDER_DIR), on a local file backend."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from gitops_e2e.procs import BIN, missing_binaries
from gitops_e2e.pulumi import PulumiProject

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT.parent / "shared" / "flux-install" / "v2.9.4" / "install.yaml"
TOOLS = ["pulumi", "pulumi-language-python", "pulumi-resource-kubernetes"]

pytestmark = pytest.mark.e2e


def test_staging_renders_to_a_directory_with_the_real_engine(tmp_path: Path) -> None:
    if missing := missing_binaries(TOOLS):
        pytest.skip(f"needs {', '.join(missing)} in {BIN} (run e2e/build.sh)")
    if not MANIFEST.is_file():
        pytest.skip("needs ../shared/flux-install (the real Flux install manifest); CI has it")
    out = tmp_path / "rendered"
    project = PulumiProject(
        tmp_path,
        kubeconfig=tmp_path / "unused",
        env={"GITOPS_RENDER_DIR": str(out), "GITOPS_FLUX_MANIFEST": str(MANIFEST)},
    )
    project.env.pop("KUBECONFIG")  # no cluster at all; rendering refuses a kubeconfig
    shutil.copy(ROOT / "Pulumi.staging.yaml", project.dir)
    project.run("stack", "init", "staging")

    preview = project.run("preview", "--stack", "staging")
    assert "to create" in preview.stdout
    project.run("up", "--yes", "--stack", "staging", timeout=600)

    docs = [yaml.safe_load(p.read_text()) for p in sorted(out.rglob("*.yaml"))]
    kinds = {d["kind"] for d in docs}
    assert {"CustomResourceDefinition", "Deployment", "GitRepository", "Kustomization"} <= kinds
    traefik = next(d for d in docs if d["metadata"]["name"] == "infrastructure-traefik")
    assert traefik["spec"]["dependsOn"] == [
        {"name": "infrastructure-metallb"},
        {"name": "infrastructure-cert-manager"},
    ]
    again = project.run("preview", "--stack", "staging", "--expect-no-changes")
    assert again.returncode == 0
    project.run("destroy", "--yes", "--stack", "staging", timeout=600)
