"""Pulumi inputs in models: Outputs from other resources in source URLs, Secret names, Provider
addresses and HelmRelease values, registered outside `apply`, checked when they resolve, and a
secret never in a spec."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from gitops_sdk import (
    GitRepository,
    HelmRelease,
    HelmRepository,
    Provider,
    SpecError,
    register,
)
from gitops_sdk.components.inputs import target_path
from gitops_sdk.stack import synth
from gitops_sdk.stack.layers import LayerSet
from gitops_sdk.stack.synth import RecordingMocks

PASSWORD = "correct-horse-battery-staple"


def chart_repo() -> HelmRepository:
    return HelmRepository(
        name="grafana", namespace="flux-system", url="https://grafana.github.io/helm-charts"
    )


def release(values: dict[str, Any]) -> HelmRelease:
    return HelmRelease(
        name="grafana",
        namespace="flux-system",
        interval="10m",
        chart={"spec": {"chart": "grafana", "version": "8.0.0", "source_ref": chart_repo()}},
        values=values,
    )


def test_secret_values_go_to_a_secret_the_release_reads(mocks: RecordingMocks) -> None:
    def program() -> None:
        obj = release(
            {
                "replicas": 1,
                "admin": {"password": pulumi.Output.secret(PASSWORD)},
                "ingress": {"hosts": ["grafana.lan", pulumi.Output.from_input("g.lan")]},
                "port": pulumi.Output.from_input(3000),
            }
        )
        register(obj)

    synth.run(program)
    (hr,) = mocks.by_kind("HelmRelease")
    (secret,) = mocks.by_kind("Secret")
    assert PASSWORD not in str(hr)
    assert "pulumi input" not in str(hr)
    assert hr["spec"]["values"] == {
        "replicas": 1,
        "admin": {},
        "ingress": {"hosts": ["grafana.lan", None]},
    }
    refs = {r["targetPath"]: r for r in hr["spec"]["valuesFrom"]}
    assert set(refs) == {"admin.password", "ingress.hosts[1]", "port"}
    assert refs["admin.password"]["name"] == secret["metadata"]["name"] == "grafana-values"
    assert refs["admin.password"]["literal"] is True  # a string stays a string
    assert refs["port"]["literal"] is False  # a number is parsed as one
    assert secret["metadata"]["namespace"] == "flux-system"
    keys = {r["valuesKey"] for r in refs.values()}
    data = secret["stringData"]
    data = data.get("value", data)  # the mock runtime shows a secret input wrapped
    assert keys == set(data)
    # synth output never shows the Secret's values.
    assert PASSWORD not in str(synth.redact(secret))
    # The release waits for its Secret.
    names = [r.name for r in mocks.resources]
    assert names.index("helmrelease-flux-system-grafana-values") < names.index(
        "helmrelease-flux-system-grafana"
    )


def test_an_output_in_a_source_url_is_registered_and_checked_when_it_resolves(
    mocks: RecordingMocks,
) -> None:
    def program() -> None:
        url = pulumi.Output.from_input("https://git.lan/fleet.git")
        register(GitRepository(name="fleet", namespace="flux-system", url=url, interval="1m"))
        register(
            Provider(
                name="chat",
                namespace="flux-system",
                type="generic",
                address=pulumi.Output.from_input("https://hooks.lan/flux"),
                secret_ref={"name": pulumi.Output.from_input("hook-token")},
            )
        )

    synth.run(program)
    (git,) = mocks.by_kind("GitRepository")
    assert git["spec"]["url"] == "https://git.lan/fleet.git"
    (provider,) = mocks.by_kind("Provider")
    assert provider["spec"]["address"] == "https://hooks.lan/flux"
    assert provider["spec"]["secretRef"] == {"name": "hook-token"}


def test_a_bad_resolved_value_names_the_object_and_the_field(mocks: RecordingMocks) -> None:
    def program() -> None:
        url = pulumi.Output.from_input("git@github.com:org/fleet.git")
        register(GitRepository(name="fleet", namespace="flux-system", url=url, interval="1m"))

    with pytest.raises(
        Exception, match=r"GitRepository 'fleet': spec\.url: 'git@github\.com:org/fleet\.git'"
    ):
        synth.run(program)


def test_a_values_output_that_is_not_a_scalar_is_refused_naming_the_path(
    mocks: RecordingMocks,
) -> None:
    def program() -> None:
        register(release({"admin": {"password": pulumi.Output.from_input({"a": 1})}}))

    with pytest.raises(
        Exception,
        match=r"HelmRelease 'grafana': spec\.values\.admin\.password: the Output resolved to dict",
    ):
        synth.run(program)


def test_plain_values_are_still_checked_at_once() -> None:
    with pytest.raises(SpecError, match=r"spec\.url"):
        GitRepository(
            name="fleet", namespace="flux-system", url="git@github.com:o/r", interval="1m"
        )


def test_layer_units_take_outputs_in_values(mocks: RecordingMocks) -> None:
    def program() -> None:
        source = GitRepository(
            name="flux-system", namespace="flux-system", url="https://git.lan/f", interval="1m"
        )
        layers = LayerSet(source, sources={"grafana": chart_repo()}, defaults={"interval": "10m"})
        layers.layer("monitoring").helm(
            "grafana",
            source="grafana",
            chart="grafana",
            version="8.0.0",
            values={"adminPassword": pulumi.Output.secret(PASSWORD)},
        )
        for obj in layers.build():
            register(obj)

    synth.run(program)
    (hr,) = mocks.by_kind("HelmRelease")
    assert PASSWORD not in str(hr)
    assert [r["targetPath"] for r in hr["spec"]["valuesFrom"]] == ["adminPassword"]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (("a", "b"), "a.b"),
        (("hosts", 0, "name"), "hosts[0].name"),
        (("podAnnotations", "prometheus.io/scrape"), "podAnnotations.prometheus\\.io/scrape"),
    ],
)
def test_target_paths_use_helm_set_syntax(path: tuple[str | int, ...], expected: str) -> None:
    assert target_path(path) == expected
