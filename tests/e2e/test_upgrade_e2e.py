"""Kubernetes objects on the real engine: those an earlier release registered with
pulumi-kubernetes' typed classes stay the same objects under `KubeObject`, and `gitops:objects`
registers core kinds (a Namespace, a ConfigMap) as well as custom resources."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gitops_e2e.controlplane import start_control_plane
from gitops_e2e.kube import Kube
from gitops_e2e.procs import BIN, missing_binaries
from gitops_e2e.pulumi import PulumiProject

TOOLS = ["pulumi", "pulumi-language-python", "pulumi-resource-kubernetes", "etcd", "kube-apiserver"]
NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "upgrade"}}
CONFIG_MAP = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "settings", "namespace": "upgrade"},
    "data": {"tier": "apps"},
}
OBJECTS = [
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "extra"}},
    {**CONFIG_MAP, "metadata": {"name": "extra", "namespace": "extra"}},
]
# What earlier releases registered (Layers' namespaces, components' ConfigMaps and Secrets).
OLD = f"""
import pulumi_kubernetes as k8s

k8s.core.v1.Namespace("layers-namespace-upgrade", metadata={NAMESPACE["metadata"]!r})
k8s.core.v1.ConfigMap("settings", metadata={CONFIG_MAP["metadata"]!r}, data={CONFIG_MAP["data"]!r})
"""
NEW = f"""
from gitops_sdk import KubeObject

KubeObject("layers-namespace-upgrade", {NAMESPACE!r})
KubeObject("settings", {CONFIG_MAP!r})
"""
WITH_OBJECTS = f"""{NEW}
from gitops_sdk.stack.objects import register_objects

register_objects({OBJECTS!r}, "flux-system", None, {{}})
"""

pytestmark = pytest.mark.e2e


def uid(kube: Kube, doc: dict[str, object]) -> str:
    meta: dict[str, str] = doc["metadata"]  # type: ignore[assignment]
    found = kube.get(str(doc["kind"]), meta["name"], meta.get("namespace"))
    assert found is not None, meta
    return str(found["metadata"]["uid"])


def test_kubernetes_objects_keep_their_identity_and_core_kinds_register(tmp_path: Path) -> None:
    if missing := missing_binaries(TOOLS):
        pytest.skip(f"needs {', '.join(missing)} in {BIN} (run e2e/build.sh)")
    root = tmp_path / "root"
    (root / "stacks").mkdir(parents=True)
    (root / "stacks" / "__main__.py").write_text(OLD)
    (root / "Pulumi.yaml").write_text(
        yaml.safe_dump({"name": "upgrade", "runtime": "python", "main": "stacks/"})
    )
    plane = start_control_plane(tmp_path / "plane")
    try:
        project = PulumiProject(tmp_path, kubeconfig=plane.kubeconfig, root=root)
        program = project.dir / "stacks" / "__main__.py"
        project.write_stack_file("e2e", {"config": {}})
        project.run("stack", "init", "e2e", timeout=60)
        project.run("up", "--yes", "--skip-preview", "--stack", "e2e", timeout=300)
        before = [uid(plane.kube, d) for d in (NAMESPACE, CONFIG_MAP)]

        program.write_text(NEW)  # the same objects, as KubeObjects: nothing to do
        project.run("preview", "--expect-no-changes", "--stack", "e2e", timeout=300)

        program.write_text(WITH_OBJECTS)
        project.run("up", "--yes", "--skip-preview", "--stack", "e2e", timeout=300)
        assert [uid(plane.kube, d) for d in (NAMESPACE, CONFIG_MAP)] == before
        assert all(uid(plane.kube, d) for d in OBJECTS)
        project.run("preview", "--expect-no-changes", "--stack", "e2e", timeout=300)
        types = {r["type"] for r in project.export("e2e")["deployment"]["resources"]}
        assert {"kubernetes:core/v1:Namespace", "kubernetes:core/v1:ConfigMap"} <= types
    finally:
        plane.stop()
