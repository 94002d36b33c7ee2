"""Dependency order with graphlib: stable, iterative (long chains), cycles named in order."""

from __future__ import annotations

import itertools
import sys

import pytest
from test_graph import REPO, ks

from gitops_sdk import DependencyCycleError, FluxGraph, GitRepository, LayerSet
from gitops_sdk.core.order import Cycle, dependency_order

CHAIN = 3000  # far beyond Python's recursion limit
assert sys.getrecursionlimit() < CHAIN


def test_order_keeps_the_given_order_where_dependencies_allow() -> None:
    order = dependency_order(["a", "b", "c", "d"], {"a": ["c"], "c": ["d"]})
    assert order == ["b", "d", "c", "a"]
    assert dependency_order(["x", "y", "z"], {}) == ["x", "y", "z"]


def test_order_ignores_dependencies_outside_the_nodes() -> None:
    assert dependency_order(["a", "b"], {"a": ["elsewhere"], "b": ["a"]}) == ["a", "b"]


def test_cycle_is_reported_in_dependency_direction() -> None:
    with pytest.raises(Cycle) as err:
        dependency_order(["a", "b", "c"], {"a": ["b"], "b": ["c"], "c": ["a"]})
    path = err.value.path
    assert path[0] == path[-1] and len(path) == 4
    deps = {"a": "b", "b": "c", "c": "a"}
    assert all(deps[str(x)] == y for x, y in itertools.pairwise(path))


def test_a_long_dependsOn_chain_is_checked_and_ordered() -> None:
    names = [f"k{i}" for i in range(CHAIN)]
    objects = [ks(names[0])] + [ks(n, prev) for prev, n in itertools.pairwise(names)]
    graph = FluxGraph([REPO, *reversed(objects)])
    graph.check()
    order = [o.name for o in graph.order() if o.kind == "Kustomization"]
    assert order == names


def test_a_long_chain_with_a_cycle_at_its_end_names_the_cycle() -> None:
    names = [f"k{i}" for i in range(CHAIN)]
    objects = [ks(names[0], names[-1])]
    objects += [ks(n, prev) for prev, n in itertools.pairwise(names)]
    with pytest.raises(DependencyCycleError, match=r"Kustomization dependsOn cycle: "):
        FluxGraph([REPO, *objects]).check()


def test_a_layer_of_thousands_of_chained_units_builds() -> None:
    repo = GitRepository(name="r", namespace="flux-system", url="https://h/r", interval="1m")
    layers = LayerSet(repo, defaults={"interval": "10m"})
    layer = layers.layer("big")
    prev = layer.unit("u0")
    for i in range(1, CHAIN):
        prev = layer.unit(f"u{i}", depends_on=[prev])
    built = layers.build()
    assert [k.name for k in built] == [f"big-u{i}" for i in range(CHAIN)]
    assert [d.name for d in built[-1].spec.depends_on or []] == [f"big-u{CHAIN - 2}"]
