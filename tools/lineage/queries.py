"""Lineage queries: upstream, downstream and path, as pydantic views.

The CLI prints these models as JSON and the MCP tools return them, so every surface gives
the same shape. Node arguments are a NodeRef or its text id; a malformed id raises
``NodeIdError`` and a node the store does not know raises ``UnknownNodeError``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from tools.lineage.graph import Direction, LineageGraph, get_graph
from tools.nodes import NodeRef
from tools.store.db import Store


class LineageNode(BaseModel):
    """A node found by a lineage query, ``distance`` hops from where the query started."""

    node: str
    type: str
    namespace: str
    name: str
    distance: int


class UpstreamView(BaseModel):
    """What feeds ``node``: without jobs, distance counts datasets (dataset -> job ->
    dataset is 1); with jobs, every hop counts. ``cycle`` says the walk met a cycle."""

    node: str
    upstream: list[LineageNode]
    depth: int | None
    include_jobs: bool
    cycle: bool


class DownstreamView(BaseModel):
    """What ``node`` feeds; distances as in UpstreamView."""

    node: str
    downstream: list[LineageNode]
    depth: int | None
    include_jobs: bool
    cycle: bool


class PathView(BaseModel):
    """The shortest directed path between ``start`` and ``end``, jobs included.

    ``direction`` is ``downstream`` when data flows start -> end, ``upstream`` when it flows
    end -> start; ``path`` runs in the direction data flows, ``distance`` counting hops
    from its first node.
    """

    start: str
    end: str
    found: bool
    direction: Literal["downstream", "upstream"] | None
    hops: int | None
    path: list[LineageNode]
    message: str


def lineage_node(graph: LineageGraph, nid: int, distance: int) -> LineageNode:
    ref = graph.ref(nid)
    # Built without re-validation: the fields come straight from the store, and large
    # lineages return thousands of these.
    return LineageNode.model_construct(
        node=str(ref), type=ref.type, namespace=ref.namespace, name=ref.name, distance=distance
    )


def walk(
    store: Store,
    ref: NodeRef | str,
    direction: Direction,
    *,
    depth: int | None,
    include_jobs: bool,
) -> tuple[str, list[LineageNode], bool]:
    """(start node text, nodes found sorted by distance then id, whether a cycle was met)."""
    graph = get_graph(store)
    start = graph.resolve(ref)
    dist = graph.distances(start, direction, depth=depth, include_jobs=include_jobs)
    cycle = graph.touches_cycle(dist)
    del dist[start]
    found = [
        lineage_node(graph, nid, d)
        for nid, d in dist.items()
        if include_jobs or not graph.is_job(nid)
    ]
    found.sort(key=lambda n: (n.distance, n.node))
    return str(graph.ref(start)), found, cycle


def upstream(
    store: Store, ref: NodeRef | str, depth: int | None = None, include_jobs: bool = False
) -> UpstreamView:
    """Everything that feeds ``ref``, nearest first; ``depth`` caps the distance."""
    node, found, cycle = walk(store, ref, "upstream", depth=depth, include_jobs=include_jobs)
    return UpstreamView(
        node=node, upstream=found, depth=depth, include_jobs=include_jobs, cycle=cycle
    )


def downstream(
    store: Store, ref: NodeRef | str, depth: int | None = None, include_jobs: bool = False
) -> DownstreamView:
    """Everything ``ref`` feeds, nearest first; ``depth`` caps the distance."""
    node, found, cycle = walk(store, ref, "downstream", depth=depth, include_jobs=include_jobs)
    return DownstreamView(
        node=node, downstream=found, depth=depth, include_jobs=include_jobs, cycle=cycle
    )


def path(store: Store, a: NodeRef | str, b: NodeRef | str) -> PathView:
    """The shortest directed path from ``a`` to ``b``, else from ``b`` to ``a``."""
    graph = get_graph(store)
    start, end = graph.resolve(a), graph.resolve(b)
    start_text, end_text = str(graph.ref(start)), str(graph.ref(end))
    for direction, (src, dst) in (("downstream", (start, end)), ("upstream", (end, start))):
        nodes = graph.shortest_path(src, dst)
        if nodes is not None:
            flow = "->" if direction == "downstream" else "<-"
            return PathView(
                start=start_text,
                end=end_text,
                found=True,
                direction="downstream" if direction == "downstream" else "upstream",
                hops=len(nodes) - 1,
                path=[lineage_node(graph, nid, i) for i, nid in enumerate(nodes)],
                message=f"{start_text} {flow} {end_text} in {len(nodes) - 1} hop(s)",
            )
    return PathView(
        start=start_text,
        end=end_text,
        found=False,
        direction=None,
        hops=None,
        path=[],
        message=f"no path between {start_text} and {end_text} in either direction",
    )


__all__ = [
    "DownstreamView",
    "LineageNode",
    "PathView",
    "UpstreamView",
    "downstream",
    "lineage_node",
    "path",
    "upstream",
    "walk",
]
