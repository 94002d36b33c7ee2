"""Units of every kind, in config and in code: HelmReleases from Helm and OCI sources, presets
with per-stack overrides, Kustomizations of named sources, and the stack program's extension
point."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops_sdk import ConfigError, GitRepository, HelmRepository, OCIRepository, SpecError
from gitops_sdk.stack import synth
from gitops_sdk.stack.config import parse_config
from gitops_sdk.stack.layers import LayerSet
from gitops_sdk.stack.sources import build_sources

ROOT = Path(__file__).resolve().parent.parent
NS = "flux-system"


def repo() -> GitRepository:
    return GitRepository(name=NS, namespace=NS, url="https://git.lan/fleet", interval="1m")


def config(layers: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "cluster": {"name": "lab", "environment": "staging"},
        "repository": {"url": "https://git.lan/fleet"},
        "sources": {
            "jetstack": {"type": "helm", "url": "https://charts.jetstack.io"},
            "ghcr": {"type": "helm", "url": "oci://ghcr.io/org/charts"},
            "podinfo": {
                "type": "oci",
                "url": "oci://ghcr.io/stefanprodan/charts/podinfo",
                "ref": {"semver": ">=6.0.0"},
            },
            "extras": {"type": "git", "url": "https://git.lan/extras", "ref": {"tag": "v1.2.3"}},
        },
        "layers": layers,
        **extra,
    }


def render(values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    cfg = parse_config(values, source="Pulumi.lab.yaml")
    sources = build_sources(cfg.sources, NS, {})
    layers = LayerSet.from_config(cfg, repo(), sources=sources)
    return {o.name: o.to_manifest() for o in layers.build()}


def test_sources_of_every_type_render_as_their_flux_kinds() -> None:
    cfg = parse_config(config({}), source="Pulumi.lab.yaml")
    built = build_sources(cfg.sources, NS, {"cluster": "lab"})
    assert isinstance(built["jetstack"], HelmRepository)
    assert built["ghcr"].to_manifest()["spec"]["type"] == "oci"
    assert isinstance(built["podinfo"], OCIRepository)
    assert isinstance(built["extras"], GitRepository)
    assert built["jetstack"].to_manifest()["spec"]["interval"] == "1h"


def test_a_chart_ref_reads_an_oci_repository_and_a_kustomization_a_named_git_source() -> None:
    out = render(
        config(
            {
                "apps": {
                    "units": {
                        "podinfo": {"chartRef": "podinfo", "values": {"replicaCount": 1}},
                        "extras": {"source": "extras", "path": "./deploy"},
                        "from-oci": {"chart": "tool", "source": "ghcr", "version": "^1.0.0"},
                    }
                }
            }
        )
    )
    assert out["apps-podinfo"]["spec"]["chartRef"] == {"kind": "OCIRepository", "name": "podinfo"}
    assert out["apps-extras"]["spec"]["sourceRef"] == {"kind": "GitRepository", "name": "extras"}
    chart = out["apps-from-oci"]["spec"]["chart"]["spec"]
    assert chart["sourceRef"] == {"kind": "HelmRepository", "name": "ghcr"}
    assert chart["version"] == "^1.0.0"


def test_a_preset_is_overridden_per_stack_values_deep_merged_version_and_enabled() -> None:
    layers = {
        "infrastructure": {
            "units": {
                "cert-manager": {
                    "preset": "cert-manager",
                    "version": "v1.20.0",
                    "values": {"webhook": {"replicaCount": 5}, "prometheus": None},
                },
                "metallb": {"preset": "metallb", "enabled": False},
            }
        }
    }
    values = config(layers)
    values["sources"]["metallb"] = {"type": "helm", "url": "https://metallb.github.io/metallb"}
    out = render(values)
    assert "infrastructure-metallb" not in out
    spec = out["infrastructure-cert-manager"]["spec"]
    assert spec["chart"]["spec"]["version"] == "v1.20.0"
    assert spec["values"]["webhook"]["replicaCount"] == 5
    # The preset's other webhook values survive; a null removes a preset key.
    assert spec["values"]["webhook"]["resources"]["limits"] == {"cpu": "100m", "memory": "128Mi"}
    assert "prometheus" not in spec["values"]
    assert spec["values"]["crds"] == {"enabled": True, "keep": True}
    assert spec["targetNamespace"] == "cert-manager"


def test_ha_clusters_get_the_presets_ha_values() -> None:
    layers = {"infrastructure": {"units": {"cert-manager": {"preset": "cert-manager"}}}}
    single = render(config(layers))["infrastructure-cert-manager"]["spec"]["values"]
    ha = render(config(layers, cluster={"name": "lab", "environment": "prod", "ha": True}))
    assert single.get("replicaCount", 1) == 1
    assert ha["infrastructure-cert-manager"]["spec"]["values"]["replicaCount"] >= 2


def test_units_in_code_helm_and_kustomization_with_cross_kind_dependencies() -> None:
    jetstack = HelmRepository(name="jetstack", namespace=NS, url="https://charts.jetstack.io")
    layers = LayerSet(repo(), sources={"jetstack": jetstack}, defaults={"interval": "10m"})
    infra = layers.layer("infrastructure")
    certs = infra.helm("cert-manager", source="jetstack", chart="cert-manager", version="v1.21.1")
    issuers = infra.unit("issuers", path="./issuers", depends_on=[certs])
    apps = layers.layer("apps", depends_on=[infra])
    apps.helm("podinfo", source="jetstack", chart="podinfo", version="6.7.1", depends_on=[issuers])
    out = {o.name: o for o in layers.build()}
    assert out["infrastructure-issuers"].kind == "Kustomization"
    assert layers.cross == {
        "infrastructure-issuers": ["infrastructure-cert-manager"],
        "apps-podinfo": ["infrastructure-issuers"],
    }
    # Flux's own dependsOn stays within a kind: the release waits for the release.
    deps = out["apps-podinfo"].to_manifest()["spec"]["dependsOn"]
    assert deps == [{"name": "infrastructure-cert-manager"}]


def test_a_same_kind_edge_implied_only_through_another_kind_is_kept_for_flux() -> None:
    jetstack = HelmRepository(name="jetstack", namespace=NS, url="https://charts.jetstack.io")
    layers = LayerSet(repo(), sources={"jetstack": jetstack}, defaults={"interval": "10m"})
    base = layers.layer("base").unit("crds", path="./crds")
    chart = layers.layer("mid").helm(
        "app", source="jetstack", chart="app", version="1.0.0", depends_on=[base]
    )
    layers.layer("top").unit("cfg", path="./cfg", depends_on=[chart, base])
    out = {o.name: o.to_manifest() for o in layers.build()}
    # top-cfg -> mid-app -> base-crds: Pulumi sees the chain, Flux does not see across kinds.
    assert out["top-cfg"]["spec"]["dependsOn"] == [{"name": "base-crds"}]


def test_helm_in_code_needs_a_chart() -> None:
    layers = LayerSet(repo(), defaults={"interval": "10m"})
    with pytest.raises(ConfigError, match="helm\\(\\) needs chart="):
        layers.layer("apps").helm("x")


@pytest.mark.parametrize(
    ("unit", "message"),
    [
        ({"chart": "x", "source": "jetstack"}, r"\.version None: is needed with chart"),
        ({"chart": "x", "version": "1.0.0"}, r"\.source None: is needed with chart"),
        ({"chart": "x", "chartRef": "podinfo"}, r"\.chartRef 'podinfo': cannot be set with chart"),
        ({"chartRef": "podinfo", "version": "1.0.0"}, r"\.version '1\.0\.0': cannot be set"),
        ({"chartRef": "jetstack"}, r"\.chartRef 'jetstack': is a helm source, but this unit"),
        ({"path": "./x", "values": {"a": 1}}, r"\.values \{'a': 1\}: applies to HelmRelease"),
        ({"source": "jetstack", "path": "./x"}, r"\.source 'jetstack': is a helm source"),
        ({"preset": "nginx"}, r"\.preset 'nginx': is not a preset the SDK ships; known: "),
        ({"preset": "metallb"}, r"\.source 'metallb': is not declared in gitops:sources \(pre"),
        ({"chart": "x", "source": "jetstack", "version": "1", "prune": True}, r"\.prune True"),
        ({"provides": ["Cert-Manager.io/v1"]}, r"\.provides\[0\] 'Cert-Manager\.io/v1'"),
        ({"manifests": [{"kind": "X"}]}, r"\.manifests\[0\] .*apiVersion, kind and metadata"),
        (
            {
                "manifests": [
                    {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {}}
                ]
            },
            r"\.manifests\[0\] .*: has data: .*Secrets and ConfigMaps belong in a",
        ),
    ],
)
def test_bad_units_name_the_stack_file_key_and_value(unit: dict[str, Any], message: str) -> None:
    with pytest.raises(
        ConfigError, match=r"^Pulumi\.lab\.yaml: gitops:layers\.apps\.units\.u" + message
    ):
        parse_config(config({"apps": {"units": {"u": unit}}}), source="Pulumi.lab.yaml")


def test_a_source_may_not_take_the_cluster_repositorys_name() -> None:
    values = config({})
    values["sources"]["flux-system"] = {"type": "git", "url": "https://git.lan/x"}
    with pytest.raises(ConfigError, match=r"gitops:sources\.flux-system: has the name of"):
        parse_config(values, source="Pulumi.lab.yaml")


def test_a_bad_source_names_its_key() -> None:
    values = config({})
    values["sources"]["bad"] = {"type": "helm", "url": "ftp://charts.lan"}
    with pytest.raises(ConfigError, match=r"gitops:sources\.bad\.url 'ftp://charts\.lan'"):
        parse_config(values, source="Pulumi.lab.yaml")
    values["sources"]["bad"] = {"type": "helm", "url": "https://c.lan", "ref": {"tag": "1"}}
    with pytest.raises(ConfigError, match=r"gitops:sources\.bad\.ref .*applies to oci and git"):
        parse_config(values, source="Pulumi.lab.yaml")


def test_a_declared_cluster_api_group_lets_objects_of_it_through(tmp_path: Path) -> None:
    def change(cfg: dict[str, Any]) -> None:
        del cfg["gitops:layers"]["monitoring"]["units"]["kube-prometheus-stack"]
        cfg["gitops:layers"]["monitoring"]["units"]["flagger"]["dependsOn"] = []
        cfg["gitops:cluster"]["apiGroups"] = ["monitoring.coreos.com"]

    project = copy_with(tmp_path, change)
    objects = synth.run_stack_program(project, "staging").kubernetes_objects()
    assert "PodMonitor" in {o["kind"] for o in objects}


def copy_with(tmp_path: Path, change: Any) -> Path:
    shutil.copytree(ROOT / "stacks", tmp_path / "stacks")
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path)
    doc = yaml.safe_load((ROOT / "Pulumi.staging.yaml").read_text())
    change(doc["config"])
    (tmp_path / "Pulumi.staging.yaml").write_text(yaml.safe_dump(doc))
    return tmp_path


def test_the_stack_program_takes_sources_and_units_added_in_code(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "stacks", tmp_path / "stacks")
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path)
    shutil.copy(ROOT / "Pulumi.staging.yaml", tmp_path)
    main = tmp_path / "stacks" / "__main__.py"
    extension = """
def _more(layers):
    from gitops_sdk import HelmRepository
    layers.sources["podinfo"] = HelmRepository(
        name="podinfo", namespace="flux-system", url="https://stefanprodan.github.io/podinfo"
    )
    layers.layer("demo", depends_on=["apps"]).helm(
        "podinfo", source="podinfo", chart="podinfo", version="6.7.1", provides=["podinfo.dev"]
    )
"""
    text = main.read_text()
    text = text.replace("        build(cfg, opts)", "        build(cfg, opts, extend=_more)")
    main.write_text(extension + text)
    objects = synth.run_stack_program(tmp_path, "staging").kubernetes_objects()
    releases = {o["metadata"]["name"]: o for o in objects if o["kind"] == "HelmRelease"}
    assert releases["demo-podinfo"]["spec"]["chart"]["spec"]["sourceRef"]["name"] == "podinfo"
    repos = {o["metadata"]["name"] for o in objects if o["kind"] == "HelmRepository"}
    assert "podinfo" in repos


def test_an_unknown_model_field_in_code_is_a_spec_error() -> None:
    layers = LayerSet(repo(), defaults={"interval": "10m"})
    with pytest.raises(SpecError, match="colour"):
        layers.layer("apps").unit("x", colour="blue")


def test_presets_schedule_on_the_clusters_architectures() -> None:
    layers = {"infrastructure": {"units": {"metallb": {"preset": "metallb"}}}}
    values = config(layers, cluster={"name": "lab", "environment": "x", "architectures": ["amd64"]})
    values["sources"]["metallb"] = {"type": "helm", "url": "https://metallb.github.io/metallb"}
    spec = render(values)["infrastructure-metallb"]["spec"]["values"]
    assert spec["controller"]["nodeSelector"] == {"kubernetes.io/arch": "amd64"}
    values["cluster"]["architectures"] = ["arm64", "amd64"]
    spec = render(values)["infrastructure-metallb"]["spec"]["values"]
    assert "kubernetes.io/arch" not in str(spec)


def test_units_in_code_take_source_objects_as_well_as_names() -> None:
    podinfo = OCIRepository(
        name="podinfo",
        namespace=NS,
        url="oci://ghcr.io/stefanprodan/charts/podinfo",
        interval="10m",
    )
    jetstack = HelmRepository(name="jetstack", namespace=NS, url="https://charts.jetstack.io")
    layers = LayerSet(repo(), defaults={"interval": "10m"})
    apps = layers.layer("apps")
    apps.helm("podinfo", chart_ref=podinfo)
    apps.helm("certs", source=jetstack, chart="cert-manager", version="v1.21.1")
    apps.helm("certs-again", source=jetstack, chart="cert-manager", version="v1.21.1")
    out = {o.name: o.to_manifest() for o in layers.build()}
    assert layers.sources == {"podinfo": podinfo, "jetstack": jetstack}
    assert out["apps-podinfo"]["spec"]["chartRef"] == {"kind": "OCIRepository", "name": "podinfo"}
    other = HelmRepository(name="jetstack", namespace=NS, url="https://example.org/charts")
    with pytest.raises(ConfigError, match="another HelmRepository of that name"):
        apps.helm("clash", source=other, chart="x", version="1.0.0")
