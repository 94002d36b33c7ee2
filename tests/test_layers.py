"""LayerSet: the seed's layering, dependency expansion and reduction, and bad input."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import pytest

from gitops_sdk import (
    ConfigError,
    DependencyCycleError,
    GitRepository,
    Layers,
    LayersArgs,
    LayerSet,
    SpecError,
)
from gitops_sdk.stack.config import parse_config
from gitops_sdk.stack.layers import LAYER_LABEL

BASE = {
    "cluster": {"name": "kubestaging", "environment": "staging"},
    "repository": {"url": "https://github.com/org/fleet"},
}


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
    from gitops_sdk.stack.config import load_stack_file

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


# --- names that collide once rendered ------------------------------------------------------


@pytest.mark.parametrize(
    ("declare", "message"),
    [
        (
            [("a", ["b-c"]), ("a-b", ["c"])],
            r"^layer 'a' unit 'b-c' and layer 'a-b' unit 'c' both render as Kustomization "
            r"'a-b-c'; rename one of them$",
        ),
        ([("a", ["b"]), ("a-b", [])], r"^layer 'a' unit 'b' and layer 'a-b' both render as "),
        ([("a-b-c", []), ("a", ["b-c"])], r"^layer 'a-b-c' and layer 'a' unit 'b-c' both"),
        ([("x", ["y.z"]), ("x-y.z", [])], r"both render as Kustomization 'x-y.z'"),
    ],
)
def test_kustomization_name_collisions_are_refused(
    repo: GitRepository, declare: list[tuple[str, list[str]]], message: str
) -> None:
    layers = LayerSet(repo, defaults={"interval": "10m"})
    for name, units in declare:
        layer = layers.layer(name)
        for unit in units:
            layer.unit(unit)
    with pytest.raises(ConfigError, match=message):
        layers.build()
    # The same layers as stack config are refused when the config is read.
    cfg = {name: {"units": {u: {} for u in units}} for name, units in declare}
    with pytest.raises(ConfigError, match=r"^Pulumi.staging.yaml: gitops:layers: layer "):
        parse_config({**BASE, "layers": cfg}, source="Pulumi.staging.yaml")


def test_a_disabled_unit_or_layer_does_not_collide(repo: GitRepository) -> None:
    layers = {"a": {"units": {"b-c": {"enabled": False}, "d": {}}}, "a-b": {"units": {"c": {}}}}
    cfg = parse_config({**BASE, "layers": layers}, source="Pulumi.staging.yaml")
    assert [k.name for k in LayerSet.from_config(cfg, repo).build()] == ["a-d", "a-b-c"]
    layers["a"] = {"enabled": False, "units": {"b-c": {}}}
    cfg = parse_config({**BASE, "layers": layers}, source="Pulumi.staging.yaml")
    assert [k.name for k in LayerSet.from_config(cfg, repo).build()] == ["a-b-c"]


def test_colliding_layers_in_a_stack_file_stop_the_program(tmp_path: Path) -> None:
    from pulumi import RunError
    from test_stacks import stack_copy

    from gitops_sdk.stack import synth

    layers = {"a": {"units": {"b-c": {}}}, "a-b": {"units": {"c": {}}}}
    project = stack_copy(tmp_path, layers=layers)
    mocks = synth.RecordingMocks()
    with pytest.raises(RunError) as err:
        synth.run_stack_program(project, "staging", mocks)
    assert str(err.value) == (
        "staging: Pulumi.staging.yaml: gitops:layers: layer 'a' unit 'b-c' and layer 'a-b' "
        "unit 'c' both render as Kustomization 'a-b-c'; rename one of them"
    )
    assert mocks.resources == []


def test_a_layer_whose_units_are_all_disabled_renders_nothing(repo: GitRepository) -> None:
    layers = LayerSet(repo, defaults={"interval": "10m"})
    layers.layer("infrastructure", units={"metallb": {"enabled": False}})
    layers.layer("apps")
    assert [k.name for k in layers.build()] == ["apps"]  # never `./infrastructure` as a whole
    layers.layer("docs", depends_on=["infrastructure"])
    with pytest.raises(
        ConfigError,
        match=r"^layer 'docs': dependsOn 'infrastructure': every unit of that layer is disabled",
    ):
        layers.build()


# --- thousands of units ---------------------------------------------------------------------

CHAIN = 2000
"""Twice the links at which Pulumi's Python SDK used to hit the recursion limit."""


def chained(repo: GitRepository, n: int) -> LayerSet:
    """A layer of `n` units, each depending on the one before, and a layer needing all."""
    units: dict[str, Any] = {"u0": {}}
    units.update({f"u{i}": {"dependsOn": [f"u{i - 1}"]} for i in range(1, n)})
    cfg = parse_config(
        {**BASE, "layers": {"big": {"units": units}, "apps": {"dependsOn": ["big"]}}},
        source="Pulumi.staging.yaml",
    )
    return LayerSet.from_config(cfg, repo)


def test_thousands_of_chained_units_build_quickly(repo: GitRepository) -> None:
    start = time.monotonic()
    built = chained(repo, CHAIN).build()
    assert time.monotonic() - start < 5
    assert [k.name for k in built][:2] == ["big-u0", "big-u1"]
    # Everything in `big` is implied through its last unit: apps names only that one.
    assert deps(built, "apps") == [f"big-u{CHAIN - 1}"]
    assert deps(built, f"big-u{CHAIN - 1}") == [f"big-u{CHAIN - 2}"]


def _pulumi_dependencies(monkeypatch: pytest.MonkeyPatch, mocks: Any, units: int) -> dict:
    """Register a chain of `units` through `Layers`; the Pulumi dependencies of each resource."""
    from pulumi.runtime.mocks import MockMonitor

    from gitops_sdk.stack import synth

    seen: dict[str, list[str]] = {}
    original = MockMonitor.RegisterResource

    def spy(self: MockMonitor, request: Any) -> Any:
        seen[request.name] = [u.rsplit("::", 1)[-1] for u in request.dependencies]
        return original(self, request)

    repo = GitRepository(name="r", namespace="flux-system", url="https://x/y", interval="1m")
    monkeypatch.setattr(MockMonitor, "RegisterResource", spy)
    synth.start(mocks, stack="test", config={})
    kustomizations = chained(repo, units).build()
    synth.run(lambda: Layers("layers", LayersArgs(kustomizations=kustomizations)))
    return seen


def test_pulumi_orders_each_kustomization_after_those_it_depends_on(
    mocks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _pulumi_dependencies(monkeypatch, mocks, 5)
    for i in range(1, 5):
        assert seen[f"layers-big-u{i}"] == [f"layers-big-u{i - 1}"]


def test_thousands_of_chained_units_register_without_recursion(
    mocks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gitops_sdk.components.layers import PULUMI_DEPTH

    # Past Python's recursion limit, yet small enough for the mock engine's own quadratic wait.
    chain = 1200
    assert chain > sys.getrecursionlimit()
    seen = _pulumi_dependencies(monkeypatch, mocks, chain)
    registered = [k["metadata"]["name"] for k in mocks.by_kind("Kustomization")]
    assert sorted(registered) == sorted(["apps", *(f"big-u{i}" for i in range(chain))])
    # Pulumi orders the chain as far as its SDK can walk it; Flux's dependsOn does the rest.
    assert seen[f"layers-big-u{PULUMI_DEPTH}"] == [f"layers-big-u{PULUMI_DEPTH - 1}"]
    assert seen[f"layers-big-u{PULUMI_DEPTH + 1}"] == []
    deps = {
        k["metadata"]["name"]: k["spec"].get("dependsOn") for k in mocks.by_kind("Kustomization")
    }
    assert deps[f"big-u{chain - 1}"] == [{"name": f"big-u{chain - 2}"}]
