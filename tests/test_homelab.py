"""The homelab the shipped stacks compose (Helm releases in the layers, the CRD-dependent objects
after the charts that bring their CRDs), seen in Pulumi's dependency graph under the mock
runtime, and the stack-file mistakes refused before anything registers."""

from __future__ import annotations

import re
import shutil
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops_sdk.stack import synth

ROOT = Path(__file__).resolve().parent.parent
STACKS = ["staging", "production"]
PROVIDERS = {
    "monitoring.coreos.com": "layers-monitoring-kube-prometheus-stack",
    "flagger.app": "layers-monitoring-flagger",
    "cert-manager.io": "layers-infrastructure-cert-manager",
    "metallb.io": "layers-infrastructure-metallb",
}


class Graph:
    """What the program registered: each resource's type, inputs and direct dependencies."""

    def __init__(self) -> None:
        self.deps: dict[str, list[str]] = {}
        self.types: dict[str, str] = {}
        self.inputs: dict[str, dict[str, Any]] = {}

    def closure(self, name: str) -> set[str]:
        """Everything `name` waits for, directly or through its dependencies."""
        seen: set[str] = set()
        todo = list(self.deps[name])
        while todo:
            dep = todo.pop()
            if dep not in seen:
                seen.add(dep)
                todo += self.deps.get(dep, [])
        return seen

    def named(self, pattern: str) -> list[str]:
        return [n for n in self.deps if re.fullmatch(pattern, n)]


@pytest.fixture
def graph_of(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path, str], Graph]:
    from pulumi.runtime.mocks import MockMonitor

    monkeypatch.delenv("GITOPS_FLUX_MANIFEST", raising=False)
    monkeypatch.setattr(urllib.request, "urlopen", _no_network)

    def run(project: Path, stack: str) -> Graph:
        graph = Graph()
        original = MockMonitor.RegisterResource

        def spy(self: MockMonitor, request: Any) -> Any:
            graph.deps[request.name] = [u.rsplit("::", 1)[-1] for u in request.dependencies]
            graph.types[request.name] = request.type
            return original(self, request)

        monkeypatch.setattr(MockMonitor, "RegisterResource", spy)
        mocks = synth.run_stack_program(project, stack)
        graph.inputs = {r.name: r.inputs for r in mocks.resources}
        return graph

    return run


def _no_network(*args: object, **kwargs: object) -> None:
    raise OSError("no network in this test")


@pytest.fixture(scope="module")
def project() -> Path:
    return ROOT


@pytest.mark.parametrize("stack", STACKS)
def test_objects_needing_a_charts_crds_wait_for_that_release(
    stack: str, graph_of: Callable[[Path, str], Graph]
) -> None:
    graph = graph_of(ROOT, stack)
    checked = 0
    for name, typ in graph.types.items():
        group = typ.split(":")[1].rpartition("/")[0] if typ.startswith("kubernetes:") else ""
        if group in PROVIDERS and name != PROVIDERS[group]:
            assert PROVIDERS[group] in graph.closure(name), (name, typ)
            checked += 1
    kinds = {graph.types[n].rsplit(":", 1)[-1] for n in graph.deps}
    assert {"PodMonitor", "PrometheusRule", "ClusterIssuer", "IPAddressPool"} <= kinds
    assert checked >= (5 if stack == "production" else 4)  # the Canary in production
    # The release itself is awaited: Ready before anything that needs it is created.
    annotations = graph.inputs["layers-monitoring-kube-prometheus-stack"]["metadata"]
    assert annotations["annotations"]["pulumi.com/waitFor"] == "condition=Ready"


@pytest.mark.parametrize("stack", STACKS)
def test_every_namespaced_object_waits_for_the_namespace_the_stack_creates(
    stack: str, graph_of: Callable[[Path, str], Graph]
) -> None:
    graph = graph_of(ROOT, stack)
    created = {
        inputs["metadata"]["name"]: name
        for name, inputs in graph.inputs.items()
        if graph.types[name] == "kubernetes:core/v1:Namespace"
    }
    assert {"cert-manager", "metallb-system", "monitoring", "traefik-system"} <= set(created)
    waiting = 0
    for name, inputs in graph.inputs.items():
        if not graph.types[name].startswith("kubernetes:"):
            continue
        meta = inputs.get("metadata") or {}
        spec = inputs.get("spec") or {}
        for ns in {meta.get("namespace"), spec.get("targetNamespace")} & set(created):
            if name != created[ns]:
                assert created[ns] in graph.closure(name), (name, ns)
                waiting += 1
    # The release namespaces, the monitoring ConfigMaps, the MetalLB pool and advertisement.
    assert waiting >= 14


@pytest.mark.parametrize("stack", STACKS)
def test_a_layer_waits_for_every_unit_of_the_layers_it_depends_on_whatever_their_kind(
    stack: str, graph_of: Callable[[Path, str], Graph]
) -> None:
    graph = graph_of(ROOT, stack)
    units = {
        n.removeprefix("layers-")
        for n in graph.named(r"layers-(infrastructure|monitoring|security|apps)-.+")
        if graph.types[n].rsplit(":", 1)[-1] in ("HelmRelease", "Kustomization")
    }
    layer_deps = {"monitoring": ["infrastructure"], "security": ["infrastructure"]}
    layer_deps["apps"] = ["security", "infrastructure"]
    for unit in units:
        layer = unit.split("-")[0]
        waits = graph.closure(f"layers-{unit}")
        for needed in layer_deps.get(layer, []):
            for other in (u for u in units if u.startswith(f"{needed}-")):
                assert f"layers-{other}" in waits, (unit, other)
    # Across kinds, e.g. the demo app (a Kustomization) after Traefik and Prometheus (charts).
    demo = graph.closure("layers-apps-demo")
    assert {"layers-infrastructure-traefik", "layers-monitoring-kube-prometheus-stack"} <= demo
    assert graph.types["layers-apps-demo"].endswith(":Kustomization")


# --- bad input -----------------------------------------------------------------------------------


def copy_with(tmp_path: Path, stack: str, change: Callable[[dict[str, Any]], None]) -> Path:
    shutil.copytree(ROOT / "stacks", tmp_path / "stacks")
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path)
    doc = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())
    change(doc["config"])
    (tmp_path / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(doc))
    return tmp_path


def infra(cfg: dict[str, Any]) -> dict[str, Any]:
    units: dict[str, Any] = cfg["gitops:layers"]["infrastructure"]["units"]
    return units


def _chart_and_path(cfg: dict[str, Any]) -> None:
    infra(cfg)["traefik"]["path"] = "./infrastructure/traefik"


def _unknown_source(cfg: dict[str, Any]) -> None:
    infra(cfg)["traefik"]["source"] = "traefk"


def _bad_version(cfg: dict[str, Any]) -> None:
    infra(cfg)["longhorn"]["version"] = "latest"


def _values_not_a_mapping(cfg: dict[str, Any]) -> None:
    infra(cfg)["metallb"]["values"] = ["speaker", "controller"]


def _cycle_across_kinds(cfg: dict[str, Any]) -> None:
    infra(cfg)["cert-manager"]["dependsOn"] = ["apps/demo"]


def _group_nobody_provides(cfg: dict[str, Any]) -> None:
    del cfg["gitops:layers"]["monitoring"]["units"]["flagger"]
    del cfg["gitops:layers"]["monitoring"]["units"]["flagger-loadtester"]


def _pinned_and_automated(cfg: dict[str, Any]) -> None:
    demo = cfg["gitops:layers"]["apps"]["units"]["demo"]
    demo["images"] = [{"name": "nginx", "newTag": "1.21-alpine"}]


def _manifest_of_unprovided_group(cfg: dict[str, Any]) -> None:
    infra(cfg)["longhorn"]["manifests"] = [
        {"apiVersion": "acme.example/v1", "kind": "Widget", "metadata": {"name": "w"}}
    ]


BAD = [
    (
        "staging",
        _chart_and_path,
        r"Pulumi\.staging\.yaml: gitops:layers\.infrastructure\.units\.traefik\.path "
        r"'\./infrastructure/traefik': applies to Kustomization units only",
    ),
    (
        "staging",
        _unknown_source,
        r"Pulumi\.staging\.yaml: gitops:layers\.infrastructure\.units\.traefik\.source "
        r"'traefk': is not declared in gitops:sources \(preset 'traefik' reads traefik: \{type: "
        r"helm, url: https://traefik\.github\.io/charts\}\); known: aquasecurity, ",
    ),
    (
        "staging",
        _bad_version,
        r"Pulumi\.staging\.yaml: gitops:layers\.infrastructure\.units\.longhorn\.version "
        r"'latest': is not a semver range",
    ),
    (
        "staging",
        _values_not_a_mapping,
        r"Pulumi\.staging\.yaml: gitops:layers\.infrastructure\.units\.metallb\.values "
        r"\['speaker', 'controller'\]: input should be a valid dictionary",
    ),
    (
        "staging",
        _cycle_across_kinds,
        r"Pulumi\.staging\.yaml: gitops:layers: unit dependsOn cycle: "
        r".*infrastructure-cert-manager \(HelmRelease\).*apps-demo \(Kustomization\)",
    ),
    (
        "production",
        _group_nobody_provides,
        r"Pulumi\.production\.yaml: gitops:canary uses API group 'flagger\.app', which no unit "
        r"installs",
    ),
    (
        "staging",
        _pinned_and_automated,
        r"Pulumi\.staging\.yaml: gitops:layers\.apps\.units\.demo\.images\[0\]\.newTag "
        r"'1\.21-alpine': pins nginx, which image automation updates",
    ),
    (
        "staging",
        _manifest_of_unprovided_group,
        r"Pulumi\.staging\.yaml: gitops:layers\.infrastructure\.units\.longhorn\.manifests uses "
        r"API group 'acme\.example'",
    ),
]


@pytest.mark.parametrize(("stack", "change", "message"), BAD, ids=[b[1].__name__ for b in BAD])
def test_bad_homelab_config_is_one_line_naming_the_file_key_and_value_before_any_registration(
    stack: str, change: Callable[[dict[str, Any]], None], message: str, tmp_path: Path
) -> None:
    from pulumi.errors import RunError

    project = copy_with(tmp_path, stack, change)
    mocks = synth.RecordingMocks()
    with pytest.raises((RunError, Exception)) as caught:
        synth.run_stack_program(project, stack, mocks)
    text = str(caught.value)
    assert "\n" not in text.strip()
    assert re.search(message, text), text
    assert "Traceback" not in text
    assert [r.name for r in mocks.resources if r.custom] == []


def test_disabling_a_unit_in_one_stack_drops_it_and_its_manifests(
    tmp_path: Path, graph_of: Callable[[Path, str], Graph]
) -> None:
    def off(cfg: dict[str, Any]) -> None:
        infra(cfg)["metallb"]["enabled"] = False
        infra(cfg)["traefik"]["dependsOn"] = ["cert-manager"]
        infra(cfg)["blocky"]["dependsOn"] = []

    graph = graph_of(copy_with(tmp_path, "staging", off), "staging")
    assert "layers-infrastructure-metallb" not in graph.deps
    assert not [n for n, t in graph.types.items() if "metallb.io" in t]


def iter_units(cfg: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for layer in cfg["gitops:layers"].values():
        yield from layer.get("units", {}).items()


@pytest.mark.parametrize("stack", STACKS)
def test_every_chart_version_in_the_stack_files_is_an_exact_pin(stack: str) -> None:
    cfg = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
    versions = {name: u["version"] for name, u in iter_units(cfg) if "preset" in u}
    assert len(versions) >= 10
    for name, version in versions.items():
        assert re.fullmatch(r"v?\d+\.\d+\.\d+", str(version)), (name, version)


def test_flux_metrics_reach_the_prometheus_chart_and_configmaps_wait_only_for_their_namespace(
    graph_of: Callable[[Path, str], Graph],
) -> None:
    graph = graph_of(ROOT, "staging")
    kps = graph.inputs["layers-monitoring-kube-prometheus-stack"]["spec"]["values"]
    ksm = kps["kube-state-metrics"]
    assert ksm["customResourceState"]["enabled"] is True
    kinds = {
        r["groupVersionKind"]["kind"]
        for r in ksm["customResourceState"]["config"]["spec"]["resources"]
    }
    assert {"HelmRelease", "Kustomization", "GitRepository"} <= kinds
    # The preset's own kube-state-metrics values survive the merge.
    assert "nodeSelector" in ksm
    (board,) = [n for n, t in graph.types.items() if t.endswith(":ConfigMap") and "grafana" in n]
    assert "layers-namespace-monitoring" in graph.deps[board]
    assert "layers-monitoring-kube-prometheus-stack" not in graph.closure(board)


def test_external_secrets_stores_wait_for_the_operator(
    tmp_path: Path, graph_of: Callable[[Path, str], Graph]
) -> None:
    store = {
        "apiVersion": "external-secrets.io/v1",
        "kind": "ClusterSecretStore",
        "metadata": {"name": "lab-vault"},
        "spec": {
            "provider": {
                "vault": {
                    "server": "https://vault.lan:8200",
                    "path": "secret",
                    "auth": {"tokenSecretRef": {"name": "vault-token", "key": "token"}},
                }
            }
        },
    }

    def with_eso(cfg: dict[str, Any]) -> None:
        cfg["gitops:sources"]["external-secrets"] = {
            "type": "helm",
            "url": "https://charts.external-secrets.io",
        }
        infra(cfg)["external-secrets"] = {
            "preset": "external-secrets",
            "version": "2.9.0",
            "manifests": [store],
        }

    graph = graph_of(copy_with(tmp_path, "staging", with_eso), "staging")
    (name,) = [n for n, t in graph.types.items() if t.endswith(":ClusterSecretStore")]
    assert "layers-infrastructure-external-secrets" in graph.closure(name)
    # Cluster-scoped: no namespace added.
    assert "namespace" not in graph.inputs[name]["metadata"]


@pytest.mark.parametrize("stack", STACKS)
def test_the_graph_command_draws_the_composed_homelab(
    stack: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from gitops_sdk.cli.app import main

    monkeypatch.delenv("GITOPS_FLUX_MANIFEST", raising=False)
    assert main(["--project-dir", str(ROOT), "graph", "--stack", stack]) == 0
    out = capsys.readouterr().out
    assert out.startswith("flowchart")
    assert "HelmRelease<br/>monitoring-kube-prometheus-stack" in out
    assert "HelmRelease__flux_2d_system__infrastructure_2d_metallb --> " in out
