"""Cycle detection, whole-graph and per new edge, against networkx's strong components."""

from __future__ import annotations

import random

import networkx as nx  # type: ignore[import-untyped]
import pytest

from tools.lineage.cycles import cyclic_nodes, nodes_on_new_cycles


def truth(graph: nx.DiGraph) -> set[int]:
    out: set[int] = set()
    for component in nx.strongly_connected_components(graph):
        if len(component) > 1 or graph.has_edge(*(next(iter(component)),) * 2):
            out |= component
    return out


def random_graph(seed: int, nodes: int, edges: int, back_edges: int) -> nx.DiGraph:
    """A DAG (edges go from lower to higher numbers) plus edges back from a descendant to
    its ancestor, each closing a cycle."""
    rng = random.Random(seed)
    graph = nx.DiGraph()
    graph.add_nodes_from(range(nodes))
    while graph.number_of_edges() < edges:
        a, b = sorted(rng.sample(range(nodes), 2))
        graph.add_edge(a, b)
    for _ in range(back_edges):
        a = rng.choice([n for n in graph if graph.out_degree(n)])
        graph.add_edge(rng.choice(sorted(nx.descendants(graph, a))), a)
    return graph


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("back_edges", [0, 1, 3])
def test_whole_graph_equals_strong_components(seed: int, back_edges: int) -> None:
    graph = random_graph(seed, 300, 600, back_edges)
    if seed == 0:
        graph.add_edge(7, 7)  # an in-place update: a job that reads and writes one table
    found = cyclic_nodes(graph._succ, graph._pred)
    assert found == truth(graph)
    assert bool(found) == (back_edges > 0 or seed == 0)


def test_deep_chains_do_not_recurse() -> None:
    graph = nx.DiGraph()
    nx.add_path(graph, range(20_000))
    graph.add_edge(19_999, 0)
    assert cyclic_nodes(graph._succ, graph._pred) == set(range(20_000))


@pytest.mark.parametrize("seed", range(8))
def test_new_edges_find_what_a_full_pass_finds(seed: int) -> None:
    graph = random_graph(seed, 200, 400, 0)
    rng = random.Random(seed)
    new = []
    for _ in range(5):
        a, b = rng.sample(range(200), 2)
        if not graph.has_edge(a, b):
            graph.add_edge(a, b)
            new.append((a, b))
    a = min(n for n in graph if graph.out_degree(n))
    for edge in ((max(nx.descendants(graph, a)), a), (3, 3)):  # certain cycles
        graph.add_edge(*edge)
        new.append(edge)
    expected = truth(graph)
    assert len(expected) > 2
    assert nodes_on_new_cycles(graph._succ, graph._pred, new) == expected
