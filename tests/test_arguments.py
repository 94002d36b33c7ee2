"""Arguments of the wrong type or shape get the SDK's own error, before anything registers."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from gitops_sdk import (
    ConfigError,
    FluxGraph,
    GitopsError,
    GitRepository,
    GitSource,
    Kustomization,
    Layers,
    LayerSet,
    register,
    register_all,
    synth,
)
from gitops_sdk.components.git_source import GitSourceArgs
from gitops_sdk.components.layers import LayersArgs
from gitops_sdk.core.errors import ArgumentError
from gitops_sdk.stack.synth import RecordingMocks


def repo() -> GitRepository:
    return GitRepository(
        name="fleet", namespace="flux-system", url="https://github.com/org/fleet", interval="1m"
    )


def apps() -> Kustomization:
    return Kustomization(
        name="apps",
        namespace="flux-system",
        interval="10m",
        path="./apps",
        prune=True,
        source_ref=repo(),
    )


def fails(program: Any, mocks: RecordingMocks) -> str:
    """Run `program` in the mock runtime; the ArgumentError it raised, after checking that
    nothing was registered but the stack."""
    caught: list[GitopsError] = []

    def run() -> None:
        try:
            program()
        except GitopsError as err:
            caught.append(err)

    synth.run(run)
    assert [r.type for r in mocks.resources] == []
    (err,) = caught
    assert isinstance(err, ArgumentError) and isinstance(err, TypeError)
    return str(err)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: register("fleet"),
            "register(): expected a Flux object model such as Kustomization(...), got str 'fleet'",
        ),
        (
            lambda: register(None),
            "register(): expected a Flux object model such as "
            "Kustomization(...), got NoneType None",
        ),
        (
            lambda: register(repo(), {}),
            "FluxResource 'gitrepository-flux-system-fleet': opts: "
            "expected ResourceOptions, got dict {}",
        ),
        (
            lambda: register(repo(), name=123),
            "FluxResource: expected a Pulumi resource name (str), got int 123",
        ),
        (
            lambda: register_all(repo()),
            "register_all(): expected a list of Flux object models, got GitRepository 'fleet'",
        ),
        (
            lambda: register_all([repo(), "apps"]),
            "register_all()[1]: expected Flux object models, got str 'apps'",
        ),
        (
            lambda: GitSource("fleet", GitSourceArgs(repository=apps())),
            "GitSourceArgs: repository: expected a GitRepository model, got Kustomization 'apps'",
        ),
        (
            lambda: GitSourceArgs(repository=repo(), credentials={"password": 123}),
            "GitSourceArgs: credentials['password']: expected a string, got int 123",
        ),
        (
            lambda: LayersArgs(kustomizations=[repo()]),
            "LayersArgs: kustomizations[0]: expected Kustomization models, got GitRepository "
            "'fleet'",
        ),
        (
            lambda: LayersArgs(kustomizations=apps()),
            "LayersArgs: kustomizations: expected a list of Kustomization models, got "
            "Kustomization 'apps'",
        ),
        (
            lambda: Layers("layers", [apps()]),  # type: ignore[arg-type]
            "Layers 'layers': args: expected LayersArgs, got list [Kustomization 'apps']",
        ),
    ],
)
def test_components_and_register_check_their_arguments(
    mocks: RecordingMocks, call: Any, message: str
) -> None:
    assert fails(call, mocks) == message


def test_a_single_resource_for_depends_on_is_named(mocks: RecordingMocks) -> None:
    made: list[Any] = []

    def program() -> None:
        other = pulumi.ComponentResource("test:x:X", "other")
        made.append(other)
        try:
            GitSource("fleet", GitSourceArgs(repository=repo(), depends_on=other))
        except ArgumentError as err:
            made.append(err)

    synth.run(program)
    assert str(made[1]).startswith(
        "GitSourceArgs: depends_on: expected a list of Pulumi resources, got "
        "ComponentResource <pulumi.resource.ComponentResource object"
    )
    assert [r.name for r in mocks.resources] == ["other"]  # and no GitSource


def test_flux_graph_takes_flux_objects() -> None:
    with pytest.raises(
        ArgumentError,
        match=r"^FluxGraph\[1\]: expected Flux object models, "
        r"got str 'x'$",
    ):
        FluxGraph([repo(), "x"])  # type: ignore[list-item]


def layer_set() -> LayerSet:
    return LayerSet(repo(), defaults={"interval": "10m", "prune": True})


def test_layer_set_arguments() -> None:
    with pytest.raises(ArgumentError, match=r"^LayerSet: defaults: expected a mapping, got list"):
        LayerSet(repo(), defaults=["interval"])  # type: ignore[arg-type]
    layers = layer_set()
    with pytest.raises(
        ArgumentError,
        match=r"^layer 'apps': depends_on: expected a list of layers, units or their names, "
        r"got str 'infra'$",
    ):
        layers.layer("apps", depends_on="infra")  # type: ignore[arg-type]
    with pytest.raises(
        ArgumentError, match=r"^layer 'apps': depends_on\[0\]: .* got Kustomization 'apps'$"
    ):
        layers.layer("apps", depends_on=[apps()])  # type: ignore[list-item]


def test_a_layer_of_another_layer_set_is_named() -> None:
    other = layer_set().layer("infra")
    layers = layer_set()
    layers.layer("apps", depends_on=[other])
    with pytest.raises(
        ConfigError, match=r"^layer 'apps': dependsOn 'infra' belongs to another LayerSet$"
    ):
        layers.build()


def test_a_layer_or_unit_depending_on_itself_is_an_error() -> None:
    layers = layer_set()
    layers.layer("infra", depends_on=["infra"])
    with pytest.raises(
        ConfigError, match=r"^layer 'infra': dependsOn 'infra' is the layer itself$"
    ):
        layers.build()

    for depends_on, problem in (
        ("traefik", "is the unit itself$"),
        ("infrastructure", "is its own layer; name the units"),
    ):
        layers = layer_set()
        infra = layers.layer("infrastructure")
        infra.unit("metallb")
        infra.unit("traefik", depends_on=[depends_on])
        with pytest.raises(
            ConfigError,
            match=rf"^unit 'infrastructure-traefik': dependsOn '{depends_on}' {problem}",
        ):
            layers.build()


@pytest.mark.parametrize("shape", ["huge-int", "nested-list"])
def test_an_unprintable_argument_is_still_a_one_line_argument_error(shape: str) -> None:
    value: Any = 10**5000
    if shape == "nested-list":
        value = []
        for _ in range(20_000):
            value = [value]
    with pytest.raises(ArgumentError, match=r"too deep or too long to show"):
        register(value)
