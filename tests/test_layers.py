"""LayerSet: the seed's layering, dependency expansion and reduction, and bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops_sdk import ConfigError, DependencyCycleError, GitRepository, LayerSet, SpecError
from gitops_sdk.stack.layers import LAYER_LABEL


@pytest.fixture
def repo() -> GitRepository:
    return GitRepository(
        name="k8s-cluster-config",
        namespace="flux-system",
        url="https://github.com/johanhallberg/k8s-cluster-config",
        interval="1m",
    )


def deps(built: list, name: str) -> list[str]:
    obj = next(k for k in built if k.name == name)
    return [d.name for d in obj.spec.depends_on or []]


def seed_layers(repo: GitRepository) -> LayerSet:
    layers = LayerSet(repo, defaults={"interval": "10m", "prune": True, "wait": True})
    infra = layers.layer("infrastructure")
    metallb = infra.unit("metallb")
    certs = infra.unit("cert-manager")
    traefik = infra.unit("traefik", depends_on=[metallb, certs])
    monitoring = layers.layer("monitoring", depends_on=[infra], path="./monitoring")
    apps = layers.layer("apps", interval="5m")
    apps.unit("demo", path="./apps/demo-app/staging", depends_on=[traefik, monitoring])
    return layers


def test_seed_dependencies_render_as_in_the_seed(repo: GitRepository, assert_crd_valid) -> None:
    built = seed_layers(repo).build()
    assert [k.name for k in built] == [
        "infrastructure-metallb",
        "infrastructure-cert-manager",
        "infrastructure-traefik",
        "monitoring",
        "apps-demo",
    ]
    assert deps(built, "infrastructure-traefik") == [
        "infrastructure-metallb",
        "infrastructure-cert-manager",
    ]
    assert deps(built, "apps-demo") == ["infrastructure-traefik", "monitoring"]
    demo = next(k for k in built if k.name == "apps-demo").to_manifest()
    assert demo["spec"] == {
        "interval": "5m",
        "path": "./apps/demo-app/staging",
        "prune": True,
        "sourceRef": {"kind": "GitRepository", "name": "k8s-cluster-config"},
        "wait": True,
        "dependsOn": [{"name": "infrastructure-traefik"}, {"name": "monitoring"}],
    }
    assert demo["metadata"]["labels"] == {LAYER_LABEL: "apps"}
    for k in built:
        assert_crd_valid(k.to_manifest())


def test_layer_dependency_expands_to_units_and_drops_implied_edges(repo: GitRepository) -> None:
    layers = LayerSet(repo, defaults={"interval": "10m"})
    infra = layers.layer("infrastructure")
    a = infra.unit("a")
    infra.unit("b", depends_on=[a])
    infra.unit("c")
    layers.layer("apps", depends_on=[infra])
    built = layers.build()
    # apps needs a, b and c; a is implied through b, so only b and c are written.
    assert deps(built, "apps") == ["infrastructure-b", "infrastructure-c"]


def test_string_dependencies_resolve_units_layers_and_layer_slash_unit(repo: GitRepository) -> None:
    layers = LayerSet(repo, defaults={"interval": "10m"})
    layers.layer("infrastructure", units={"metallb": {}, "traefik": {"dependsOn": ["metallb"]}})
    layers.layer("monitoring", path="./monitoring")
    layers.layer("apps", units={"demo": {"dependsOn": ["infrastructure/traefik", "monitoring"]}})
    built = layers.build()
    assert deps(built, "infrastructure-traefik") == ["infrastructure-metallb"]
    assert deps(built, "apps-demo") == ["infrastructure-traefik", "monitoring"]


def test_overlays_render_images_and_patches(repo: GitRepository, assert_crd_valid) -> None:
    layers = LayerSet(repo, defaults={"interval": "10m"})
    layers.layer("apps").unit(
        "demo",
        replicas={"demo-app": 3},
        images=[{"name": "nginx", "newTag": "1.21-alpine"}],
        resources={"demo-app": {"container": "app", "limits": {"cpu": "500m", "memory": "256Mi"}}},
        substitute={"cluster": "kubeproduction"},
    )
    (demo,) = layers.build()
    doc = demo.to_manifest()
    assert doc["spec"]["images"] == [{"name": "nginx", "newTag": "1.21-alpine"}]
    assert doc["spec"]["postBuild"] == {"substitute": {"cluster": "kubeproduction"}}
    (patch,) = doc["spec"]["patches"]
    assert patch["target"] == {"kind": "Deployment", "name": "demo-app"}
    assert "replicas: 3" in patch["patch"]
    assert "- name: app" in patch["patch"] and "memory: 256Mi" in patch["patch"]
    assert_crd_valid(doc)


def test_cycle_is_reported_with_its_path(repo: GitRepository) -> None:
    layers = LayerSet(repo, defaults={"interval": "10m"})
    layers.layer("a", depends_on=["c"])
    layers.layer("b", depends_on=["a"])
    layers.layer("c", depends_on=["b"])
    with pytest.raises(
        DependencyCycleError, match=r"Kustomization dependsOn cycle: a -> c -> b -> a"
    ):
        layers.build()


def test_unknown_dependency_lists_what_is_known(repo: GitRepository) -> None:
    layers = LayerSet(repo, defaults={"interval": "10m"})
    layers.layer("infrastructure", units={"metallb": {}})
    layers.layer("apps", depends_on=["infra"])
    with pytest.raises(
        ConfigError,
        match=r"layer 'apps': dependsOn 'infra' is not a unit.*"
        r"known: apps, infrastructure, infrastructure/metallb",
    ):
        layers.build()


def test_bad_unit_setting_names_the_unit_and_field(repo: GitRepository) -> None:
    layers = LayerSet(repo, defaults={"interval": "10m"})
    apps = layers.layer("apps")
    with pytest.raises(SpecError, match=r"Layer 'apps-demo': interval '5 min': is not a duration"):
        apps.unit("demo", interval="5 min")
    with pytest.raises(SpecError, match=r"Layer 'apps-docs': replicas.docs -1: input should be"):
        apps.unit("docs", replicas={"docs": -1})


def test_duplicates_and_missing_interval_and_decryption(repo: GitRepository) -> None:
    layers = LayerSet(repo)
    layers.layer("apps")
    with pytest.raises(ConfigError, match=r"layer 'apps' is declared twice"):
        layers.layer("apps")
    with pytest.raises(ConfigError, match=r"unit 'apps': no interval; set it in the defaults"):
        layers.build()
    layers = LayerSet(repo, defaults={"interval": "1m", "decryption": True})
    layers.layer("apps")
    with pytest.raises(
        ConfigError, match=r"unit 'apps': decryption is on but the stack has no age"
    ):
        layers.build()


def test_decryption_references_the_age_secret(repo: GitRepository) -> None:
    layers = LayerSet(
        repo,
        defaults={"interval": "1m", "decryption": True},
        decryption_secret={"name": "sops-age"},
    )
    layers.layer("apps")
    (apps,) = layers.build()
    assert apps.to_manifest()["spec"]["decryption"] == {
        "provider": "sops",
        "secretRef": {"name": "sops-age"},
    }


def test_a_dependency_on_a_disabled_layer_says_so(repo: GitRepository) -> None:
    from gitops_sdk.stack.config import load_stack_file, parse_config

    values = load_stack_file(Path(__file__).parent.parent / "Pulumi.staging.yaml")
    values["layers"]["security"]["enabled"] = False
    values["layers"]["apps"]["dependsOn"] = ["security"]
    cfg = parse_config(values, source="Pulumi.staging.yaml")
    with pytest.raises(
        ConfigError,
        match=r"^layer 'apps': dependsOn 'security' is disabled in this stack \(enabled: false\); "
        "enable it or drop the dependency$",
    ):
        LayerSet.from_config(cfg, repo).build()
