"""GitSource and Layers components under Pulumi's mock runtime."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from gitops_sdk import GitRepository, GitSource, Layers, LayerSet, SpecError, register_all
from gitops_sdk.components.git_source import GitSourceArgs
from gitops_sdk.components.layers import LayersArgs
from gitops_sdk.components.resource import flux_key
from gitops_sdk.stack import synth
from gitops_sdk.stack.synth import RecordingMocks


def repo(**extra: object) -> GitRepository:
    return GitRepository(
        name="fleet",
        namespace="flux-system",
        url="https://github.com/org/fleet",
        interval="1m",
        **extra,
    )


def test_git_source_registers_repository_and_secret_credentials(mocks: RecordingMocks) -> None:
    src = repo(secret_ref={"name": "fleet-auth"})
    synth.run(
        lambda: GitSource(
            "fleet",
            GitSourceArgs(repository=src, credentials={"username": "git", "password": "s3cr3t"}),
        )
    )
    types = [(r.type, r.name) for r in mocks.resources]
    assert ("gitops:source:GitSource", "fleet") in types
    assert ("kubernetes:core/v1:Secret", "fleet-auth") in types
    (secret,) = mocks.by_kind("Secret")
    assert secret["metadata"] == {"name": "fleet-auth", "namespace": "flux-system"}
    # The password reaches the engine only as a Pulumi secret.
    assert pulumi.runtime.rpc.is_rpc_secret(secret["stringData"])
    assert "s3cr3t" not in str(synth.redact(secret))
    (git,) = mocks.by_kind("GitRepository")
    assert git["spec"]["secretRef"] == {"name": "fleet-auth"}


def test_git_source_credentials_need_a_secret_ref(mocks: RecordingMocks) -> None:
    with pytest.raises(SpecError, match=r"spec.secretRef: is not set but credentials were given"):
        GitSource("fleet", GitSourceArgs(repository=repo(), credentials={"password": "x"}))


def test_layers_register_kustomizations_under_layer_components(mocks: RecordingMocks) -> None:
    src = repo()
    layers = LayerSet(src, defaults={"interval": "10m", "prune": True})
    infra = layers.layer("infrastructure")
    infra.unit("metallb")
    layers.layer("apps", depends_on=[infra])
    built = layers.build()

    def program() -> None:
        source = GitSource("fleet", GitSourceArgs(repository=src))
        Layers(
            "layers",
            LayersArgs(kustomizations=built, resources={flux_key(src): source.repository}),
        )

    synth.run(program)
    # Sibling components register concurrently: their order is the runtime's, not asserted.
    comps = sorted(r.name for r in mocks.resources if r.type == "gitops:layers:Layer")
    assert comps == ["layers-apps", "layers-infrastructure"]
    apps = next(o for o in mocks.by_kind("Kustomization") if o["metadata"]["name"] == "apps")
    assert apps["spec"]["dependsOn"] == [{"name": "infrastructure-metallb"}]
    assert apps["spec"]["sourceRef"] == {"kind": "GitRepository", "name": "fleet"}


def test_register_all_registers_in_order_and_maps_models_to_resources(
    mocks: RecordingMocks,
) -> None:
    src = repo()
    layers = LayerSet(src, defaults={"interval": "10m", "prune": True})
    layers.layer("infrastructure")
    layers.layer("apps", depends_on=["infrastructure"])
    objects = [src, *layers.build()]
    made: dict[int, Any] = {}
    synth.run(lambda: made.update(register_all(objects)))
    assert [r.name for r in mocks.resources] == [
        "gitrepository-flux-system-fleet",
        "kustomization-flux-system-infrastructure",
        "kustomization-flux-system-apps",
    ]
    assert [made[flux_key(o)].flux_object for o in objects] == objects
