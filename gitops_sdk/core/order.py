"""Dependency order for any graph the SDK sorts (layers, Flux references, registration), with
the standard library's `graphlib`: iterative, so a chain of thousands of objects is fine."""

from __future__ import annotations

import graphlib
import heapq
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import TypeVar

__all__ = ["Cycle", "dependency_order"]

K = TypeVar("K", bound=Hashable)


class Cycle(Exception):
    """A dependency cycle: `path[0]` depends on `path[1]` ... and the last on `path[0]` again
    (the first node is repeated at the end)."""

    def __init__(self, path: list[Hashable]) -> None:
        super().__init__(" -> ".join(map(str, path)))
        self.path = path


def dependency_order(nodes: Sequence[K], deps: Mapping[K, Iterable[K]]) -> list[K]:
    """`nodes` with every node after the nodes it depends on; ties keep the given order.
    Dependencies that are not among `nodes` are ignored. Raises `Cycle`."""
    index = {node: i for i, node in enumerate(nodes)}
    sorter: graphlib.TopologicalSorter[K] = graphlib.TopologicalSorter()
    for node in nodes:
        sorter.add(node, *(d for d in deps.get(node, ()) if d in index))
    try:
        sorter.prepare()
    except graphlib.CycleError as err:
        # graphlib lists each node before the one that depends on it; we say it the other way.
        raise Cycle(list(reversed(err.args[1]))) from None
    # Always take the earliest-given node that is ready: the declaration order wherever the
    # dependencies allow it.
    heap: list[int] = []
    out: list[K] = []
    while True:
        for node in sorter.get_ready():
            heapq.heappush(heap, index[node])
        if not heap:
            return out
        node = nodes[heapq.heappop(heap)]
        out.append(node)
        sorter.done(node)
