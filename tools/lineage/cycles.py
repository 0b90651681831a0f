"""Which nodes lie on directed cycles, found once for the whole graph and then per new edge.

Lineage should be acyclic, but instrumentation that reports a table as both input and
output of one job (an in-place update), or two jobs that read each other's outputs,
makes cycles. Queries do not need this to terminate (they keep visited sets); it lets
them say that what they walked contains a cycle.

Adjacency is networkx's: ``succ[n]`` / ``pred[n]`` are dicts keyed by neighbour.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

Adjacency = Mapping[int, Mapping[int, object]]


def cyclic_nodes(succ: Adjacency, pred: Adjacency) -> set[int]:
    """Every node on a directed cycle (self-loops included).

    Lineage graphs are nearly acyclic, so first everything a topological order reaches is
    peeled off (Kahn: a node whose predecessors are all peeled cannot be on a cycle), a
    linear pass of cheap steps that leaves nothing when there is no cycle. Tarjan's
    algorithm runs on what is left: the cycles and what lies downstream of them.
    """
    indeg = {n: len(p) for n, p in pred.items()}
    peeled = [n for n, k in indeg.items() if k == 0]
    for n in peeled:  # grows while iterating
        for m in succ[n]:
            k = indeg[m] - 1
            indeg[m] = k
            if k == 0:
                peeled.append(m)
    if len(peeled) == len(indeg):
        return set()
    rest = indeg.keys() - set(peeled)
    cyclic: set[int] = set()
    for component in _strong_components(succ, rest):
        if len(component) > 1 or component[0] in succ[component[0]]:
            cyclic.update(component)
    return cyclic


def nodes_on_new_cycles(
    succ: Adjacency, pred: Adjacency, new_edges: Iterable[tuple[int, int]]
) -> set[int]:
    """Nodes on cycles through any of ``new_edges`` (already added to the adjacency).

    A node w is on a cycle through u -> v exactly when v reaches w and w reaches u.
    """
    found: set[int] = set()
    for u, v in new_edges:
        if u == v:
            found.add(u)
            continue
        forward = _reach(succ, v, None)
        if u not in forward:
            continue
        found.update(_reach(pred, u, forward))
        found.update((u, v))
    return found


def _reach(adj: Adjacency, start: int, within: set[int] | None) -> set[int]:
    seen = {start}
    stack = [start]
    while stack:
        for m in adj[stack.pop()]:
            if m not in seen and (within is None or m in within):
                seen.add(m)
                stack.append(m)
    return seen


def _strong_components(succ: Adjacency, nodes: set[int]) -> list[list[int]]:
    """Tarjan's strongly connected components of the subgraph on ``nodes``, iteratively
    (lineage chains are deeper than Python's recursion limit)."""
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    on_stack: set[int] = set()
    stack: list[int] = []
    out: list[list[int]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter([m for m in succ[root] if m in nodes]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            n, children = work[-1]
            advanced = False
            for m in children:
                if m not in index:
                    index[m] = low[m] = counter
                    counter += 1
                    stack.append(m)
                    on_stack.add(m)
                    work.append((m, iter([k for k in succ[m] if k in nodes])))
                    advanced = True
                    break
                if m in on_stack:
                    low[n] = min(low[n], index[m])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[n])
            if low[n] == index[n]:
                component = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    component.append(m)
                    if m == n:
                        break
                out.append(component)
    return out
