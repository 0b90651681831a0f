"""Column lineage: which source columns feed a column, or which columns it feeds.

Read from the ``column_lineage`` table (the OpenLineage ``columnLineage`` facet), one
indexed query per hop: (dst_node_id, dst_column) is the leading key of the unique
constraint for upstream walks, ``ix_column_lineage_src`` serves downstream walks. Column
edges are few next to dataset edges, so they are not cached in the graph.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import select, tuple_

from tools.lineage.graph import get_graph
from tools.nodes import NodeRef
from tools.store.db import Store
from tools.store.models import ColumnLineage
from tools.store.writes import chunks

ColumnDirection = Literal["upstream", "downstream"]
Key = tuple[int, str]


class LineageColumn(BaseModel):
    """A column found by a column-lineage query, ``distance`` dataset hops away."""

    node: str
    type: str
    namespace: str
    name: str
    column: str
    distance: int


class ColumnEdge(BaseModel):
    """``src_column`` of ``src_node`` feeds ``dst_column`` of ``dst_node``."""

    src_node: str
    src_column: str
    dst_node: str
    dst_column: str
    transformation: str | None


class ColumnLineageView(BaseModel):
    """Columns feeding (upstream) or fed by (downstream) ``node``'s ``column``, nearest
    first, and every column edge walked; ``cycle`` says those edges contain a cycle."""

    node: str
    column: str
    direction: ColumnDirection
    depth: int | None
    columns: list[LineageColumn]
    edges: list[ColumnEdge]
    cycle: bool


def column_lineage(
    store: Store,
    ref: NodeRef | str,
    column: str,
    direction: ColumnDirection = "upstream",
    depth: int | None = None,
) -> ColumnLineageView:
    """The columns feeding ``column`` of dataset ``ref`` (recursively, across datasets),
    or with ``direction="downstream"`` the columns it feeds. A column no lineage names
    gives empty lists."""
    if direction not in ("upstream", "downstream"):
        raise ValueError(f"direction must be 'upstream' or 'downstream', got {direction!r}")
    if not column.strip():
        raise ValueError("the column name must not be empty")
    if depth is not None and depth < 0:
        raise ValueError(f"depth must be 0 or more, got {depth}")
    graph = get_graph(store)
    start = graph.resolve(ref)
    if graph.is_job(start):
        raise ValueError(f"{graph.ref(start)} is a job: column lineage links dataset columns")

    rows = _walk(store, (start, column), direction, depth)
    dist: dict[Key, int] = {(start, column): 0}
    for hop, _near, far, _ in rows:
        dist.setdefault(far, hop)
    graph.ensure_loaded({node for node, _ in dist})
    refs = {node: graph.ref(node) for node, _ in dist}

    columns = [
        LineageColumn.model_construct(
            node=str(refs[node]),
            type=refs[node].type,
            namespace=refs[node].namespace,
            name=refs[node].name,
            column=col,
            distance=d,
        )
        for (node, col), d in dist.items()
        if (node, col) != (start, column)
    ]
    columns.sort(key=lambda c: (c.distance, c.node, c.column))
    edges = []
    for _, near, far, transformation in rows:
        src, dst = (far, near) if direction == "upstream" else (near, far)
        edges.append(
            ColumnEdge(
                src_node=str(refs[src[0]]),
                src_column=src[1],
                dst_node=str(refs[dst[0]]),
                dst_column=dst[1],
                transformation=transformation,
            )
        )
    edges.sort(key=lambda e: (e.dst_node, e.dst_column, e.src_node, e.src_column))
    return ColumnLineageView(
        node=str(refs[start]),
        column=column,
        direction=direction,
        depth=depth,
        columns=columns,
        edges=edges,
        cycle=_has_cycle([(near, far) for _, near, far, _ in rows]),
    )


def _walk(
    store: Store, start: Key, direction: ColumnDirection, depth: int | None
) -> list[tuple[int, Key, Key, str | None]]:
    """Breadth-first over column edges: (hop, near column, far column, transformation),
    where near is the side already reached. Each column is expanded once, so cycles end."""
    table = ColumnLineage
    if direction == "upstream":
        near_cols: Sequence[Any] = (table.dst_node_id, table.dst_column)
        far_cols: Sequence[Any] = (table.src_node_id, table.src_column)
    else:
        near_cols, far_cols = (
            (table.src_node_id, table.src_column),
            (table.dst_node_id, table.dst_column),
        )
    stmt = select(*near_cols, *far_cols, table.transformation)
    out: list[tuple[int, Key, Key, str | None]] = []
    seen = {start}
    frontier = [start]
    hop = 0
    with store.read() as conn:
        while frontier and (depth is None or hop < depth):
            hop += 1
            following: list[Key] = []
            for part in chunks(frontier):
                query = stmt.where(tuple_(*near_cols).in_(list(part)))
                for row in conn.execute(query):
                    far = (row[2], row[3])
                    out.append((hop, (row[0], row[1]), far, row[4]))
                    if far not in seen:
                        seen.add(far)
                        following.append(far)
            frontier = following
    return out


def _has_cycle(edges: list[tuple[Key, Key]]) -> bool:
    """Whether the walked edges contain a directed cycle (Kahn: something never peels)."""
    succ: dict[Key, list[Key]] = {}
    indeg: dict[Key, int] = {}
    for a, b in edges:
        succ.setdefault(a, []).append(b)
        indeg[b] = indeg.get(b, 0) + 1
        indeg.setdefault(a, 0)
    ready = [k for k, n in indeg.items() if n == 0]
    peeled = 0
    while ready:
        k = ready.pop()
        peeled += 1
        for m in succ.get(k, ()):
            indeg[m] -= 1
            if indeg[m] == 0:
                ready.append(m)
    return peeled < len(indeg)


__all__ = ["ColumnEdge", "ColumnLineageView", "LineageColumn", "column_lineage"]
