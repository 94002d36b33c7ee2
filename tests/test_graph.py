"""Whole-stack reference checks, dependsOn cycles, order and the Mermaid picture."""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitops_sdk import CrossReferenceError, DependencyCycleError, FluxGraph, from_manifest
from gitops_sdk.stack.graph import _node_id


def ks(name: str, *deps: str, source: str = "fleet", ns: str = "flux-system", **spec: Any) -> Any:
    return from_manifest(
        {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": name, "namespace": ns},
            "spec": {
                "interval": "10m",
                "path": f"./{name}",
                "prune": True,
                "sourceRef": {"kind": "GitRepository", "name": source},
                **({"dependsOn": [{"name": d} for d in deps]} if deps else {}),
                **spec,
            },
        }
    )


REPO = from_manifest(
    {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": "fleet", "namespace": "flux-system"},
        "spec": {"url": "https://github.com/org/fleet", "interval": "1m"},
    }
)


def release(name: str, **spec: Any) -> Any:
    return from_manifest(
        {
            "apiVersion": "helm.toolkit.fluxcd.io/v2",
            "kind": "HelmRelease",
            "metadata": {"name": name, "namespace": "flux-system"},
            "spec": {"interval": "10m", **spec},
        }
    )


def test_valid_graph_passes_and_orders_dependencies_first() -> None:
    objs = [ks("apps", "infra"), ks("infra"), REPO]
    graph = FluxGraph(objs)
    graph.check()
    assert [o.name for o in graph.order()] == ["fleet", "infra", "apps"]


def test_dependency_cycle_lists_the_cycle() -> None:
    graph = FluxGraph([REPO, ks("a", "b"), ks("b", "c"), ks("c", "a")])
    with pytest.raises(
        DependencyCycleError,
        match=r"Kustomization dependsOn cycle: "
        r"flux-system/a -> flux-system/b -> flux-system/c -> flux-system/a",
    ):
        graph.check()


def test_self_dependency_is_a_cycle() -> None:
    with pytest.raises(DependencyCycleError, match=r"flux-system/a -> flux-system/a"):
        FluxGraph([REPO, ks("a", "a")]).check()


def test_dangling_source_ref_names_field_and_declared_candidates() -> None:
    graph = FluxGraph([REPO, ks("apps", source="flet")])
    with pytest.raises(
        CrossReferenceError,
        match=r"Kustomization 'apps': spec.sourceRef refers to "
        r"GitRepository flux-system/flet, which this stack does not declare; "
        r"declared: fleet",
    ):
        graph.check()


def test_dangling_depends_on() -> None:
    with pytest.raises(
        CrossReferenceError,
        match=r"spec.dependsOn\[0\] refers to Kustomization "
        r"flux-system/infra",
    ):
        FluxGraph([REPO, ks("apps", "infra")]).check()


def test_external_objects_may_be_referenced() -> None:
    FluxGraph([REPO, ks("apps", "crds")], known=[("Kustomization", "flux-system", "crds")]).check()


def test_cross_namespace_lockdown() -> None:
    other = ks("apps", ns="apps")
    FluxGraph([REPO, other], known=[("GitRepository", "apps", "fleet")]).check()
    tenant = from_manifest(
        {
            **other.to_manifest(),
            "spec": {
                **other.to_manifest()["spec"],
                "sourceRef": {"kind": "GitRepository", "name": "fleet", "namespace": "flux-system"},
            },
        }
    )
    FluxGraph([REPO, tenant]).check()
    with pytest.raises(
        CrossReferenceError,
        match=r"Kustomization 'apps': spec.sourceRef.namespace "
        r"'flux-system': cross-namespace references are locked down.*expected 'apps'",
    ):
        FluxGraph([REPO, tenant], no_cross_namespace_refs=True).check()


def test_duplicate_objects_are_rejected() -> None:
    with pytest.raises(CrossReferenceError, match=r"Kustomization flux-system/a is declared twice"):
        FluxGraph([REPO, ks("a"), ks("a")])


def test_helm_release_chart_ref_and_values_from_must_be_declared() -> None:
    hr = release(
        "podinfo",
        chartRef={"kind": "OCIRepository", "name": "podinfo"},
        valuesFrom=[
            {"kind": "ConfigMap", "name": "podinfo-values"},
            {"kind": "Secret", "name": "extra", "optional": True},
        ],
    )
    with pytest.raises(
        CrossReferenceError,
        match=r"HelmRelease 'podinfo': spec.chartRef refers to "
        r"OCIRepository flux-system/podinfo",
    ):
        FluxGraph([hr]).check()
    known = [("OCIRepository", "flux-system", "podinfo")]
    with pytest.raises(
        CrossReferenceError,
        match=r"spec.valuesFrom\[0\] refers to ConfigMap "
        r"flux-system/podinfo-values",
    ):
        FluxGraph([hr], known=known).check()
    FluxGraph([hr], known=[*known, ("ConfigMap", "flux-system", "podinfo-values")]).check()


def test_helm_release_cycle() -> None:
    a = release(
        "a",
        chart={"spec": {"chart": "a", "sourceRef": {"kind": "HelmRepository", "name": "r"}}},
        dependsOn=[{"name": "b"}],
    )
    b = release(
        "b",
        chart={"spec": {"chart": "b", "sourceRef": {"kind": "HelmRepository", "name": "r"}}},
        dependsOn=[{"name": "a"}],
    )
    with pytest.raises(DependencyCycleError, match=r"HelmRelease dependsOn cycle"):
        FluxGraph([a, b], known=[("HelmRepository", "flux-system", "r")]).check()


def test_mermaid_shows_sources_dotted_and_dependencies_solid() -> None:
    text = FluxGraph([REPO, ks("infra"), ks("apps", "infra")]).mermaid()
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    assert '  GitRepository__flux_2d_system__fleet[("GitRepository<br/>fleet")]' in lines
    assert (
        "  GitRepository__flux_2d_system__fleet -.-> Kustomization__flux_2d_system__apps" in lines
    )
    assert "  Kustomization__flux_2d_system__infra --> Kustomization__flux_2d_system__apps" in lines


def test_mermaid_gives_distinct_objects_distinct_ids() -> None:
    # Each pair was one node id when every other character became `_`.
    objs = [
        REPO,
        ks("a.b"),
        ks("a-b", "a.b"),
        ks("c", ns="x-y"),
        ks("y-c", ns="x"),
        ks("a-b", ns="a"),
    ]
    lines = FluxGraph(objs).mermaid().splitlines()
    nodes = [line.split("[", 1)[0].strip() for line in lines if "<br/>" in line]
    assert len(nodes) == len(set(nodes)) == len(objs)
    assert all(re.fullmatch(r"[A-Za-z0-9_]+", n) for n in nodes)
    assert "  Kustomization__flux_2d_system__a_2e_b --> Kustomization__flux_2d_system__a_2d_b" in (
        lines
    )


def test_node_ids_are_injective_over_every_short_key() -> None:
    parts = ["", *"a_-.2", *("".join(p) for p in itertools.product("a_-.2", repeat=2))]
    keys = list(itertools.product(parts, repeat=3))
    assert len({_node_id(k) for k in keys}) == len(keys)


@settings(max_examples=300, derandomize=True, database=None)
@given(st.tuples(st.text(max_size=8), st.text(max_size=8), st.text(max_size=8)))
def test_node_ids_are_plain_mermaid_ids(key: tuple[str, str, str]) -> None:
    assert re.fullmatch(r"[A-Za-z0-9_]*", _node_id(key))
