"""The lineage graph: the store's nodes and edges as a networkx DiGraph, kept current.

Node keys are the store's integer node ids (attributes ``type``, ``namespace``, ``name``);
edges run dataset -> job (an input) and job -> dataset (an output) and carry
``first_seen`` / ``last_seen``. The graph is built once per store (``get_graph``) and then
grows incrementally: nodes and edges are never deleted or renumbered, so ``refresh`` reads
only the rows above the highest ids already loaded, one primary-key range query per table.

When to refresh: a commit on the store's own engine (this process wrote) makes the next
query refresh at once; writes by other processes are picked up at most
``min_interval_s`` later, because queries refresh at most that often otherwise.

PostgreSQL hands out ids when rows are inserted, not when they commit, so a slow
transaction can commit an id below one already read. There, rows inserted during the last
``SETTLE_S`` seconds are read again (and skipped when known); a transaction open longer
than that is only seen after ``reload()``. SQLite has one writer at a time, so ids commit
in order and no re-reading is needed. Edge timestamps are as of the row's first load: an
upsert that widens ``last_seen`` does not create a new id.

Traversals read networkx's adjacency dicts directly (as networkx's own algorithms do):
its public views allocate per call, which dominated query time on large graphs.
"""

from __future__ import annotations

import gc
import math
import threading
import time
import weakref
from collections import deque
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal

import networkx as nx  # type: ignore[import-untyped]
from sqlalchemy import Connection, event, select

from tools.lineage.cycles import cyclic_nodes, nodes_on_new_cycles
from tools.nodes import NodeRef
from tools.store.db import Store
from tools.store.models import Edge, Node
from tools.store.queries import UnknownNodeError
from tools.store.queries import node_id as lookup_node_id
from tools.store.writes import chunks

Direction = Literal["upstream", "downstream"]
NewEdge = tuple[int, int, dict[str, int]]
MIN_REFRESH_INTERVAL_S = 0.5
SETTLE_S = 10.0
# Past this many new edges in one refresh, one pass over the whole graph finds cycles
# faster than a search per new edge.
INCREMENTAL_CYCLE_EDGES = 500


class _Changed:
    """Set by every commit on the store's engine: this process wrote something."""

    __slots__ = ("flag",)

    def __init__(self) -> None:
        self.flag = True

    def set(self, *_args: Any) -> None:
        self.flag = True


class LineageGraph:
    """The lineage of one store. Thread-safe: refreshes and traversals share one lock."""

    def __init__(self, store: Store, *, min_interval_s: float = MIN_REFRESH_INTERVAL_S) -> None:
        self.graph: Any = nx.DiGraph()
        self.min_interval_s = min_interval_s
        self.rows_read = 0  # rows fetched by loads and refreshes, re-reads included
        self.refreshes = 0
        self._store = weakref.ref(store)
        self._lock = threading.RLock()
        self._jobs: set[int] = set()
        self._cyclic: set[int] = set()
        self._namespaces: dict[str, str] = {}  # one string object per namespace
        self._max_edge = 0
        self._max_node = 0
        self._settle_s = 0.0 if store.is_sqlite else SETTLE_S
        self._marks: deque[tuple[float, int, int]] = deque()
        self._last_refresh = -math.inf
        self._changed = _Changed()
        event.listen(store.engine, "commit", self._changed.set)
        weakref.finalize(self, _unlisten, store.engine, self._changed)
        self.refresh(force=True)

    # -- loading -------------------------------------------------------------------------

    @property
    def store(self) -> Store:
        store = self._store()
        if store is None:
            raise RuntimeError("the store of this lineage graph has been garbage-collected")
        return store

    def refresh(self, *, force: bool = False) -> int:
        """Load nodes and edges added since the last refresh; returns how many were new.

        Cheap when nothing changed (two empty range queries), and skipped altogether when
        this process has not committed and the last refresh is recent, unless ``force``.
        """
        now = time.monotonic()
        with self._lock:
            recent = now - self._last_refresh < self.min_interval_s
            if not force and recent and not self._changed.flag:
                return 0
            # Cleared before reading: a commit landing during the read sets it again.
            self._changed.flag = False
            self._last_refresh = now
            low_edge, low_node = self._low_water(now)
            with _gc_paused(), self.store.read() as conn:
                # Edges first: a node is committed no later than the edges naming it, so
                # the node query that follows sees every node these edges reference.
                edges = conn.execute(
                    select(Edge.id, Edge.src_id, Edge.dst_id, Edge.first_seen, Edge.last_seen)
                    .where(Edge.id > low_edge)
                    .order_by(Edge.id)
                ).all()
                nodes = conn.execute(
                    select(Node.id, Node.type, Node.namespace, Node.name)
                    .where(Node.id > low_node)
                    .order_by(Node.id)
                ).all()
                added = self._add_nodes(nodes)
                new_edges, orphans = self._add_edges(edges)
                if orphans:  # their node committed late, below the node low-water mark
                    ends = {n for row in orphans for n in (row[1], row[2])}
                    added += self._add_nodes(_nodes_by_id(conn, ends))
                    # Foreign keys guarantee the nodes exist, so none is left out here.
                    new_edges += self._add_edges(orphans)[0]
                self._update_cycles(new_edges)
            self.rows_read += len(edges) + len(nodes)
            if edges:
                self._max_edge = max(self._max_edge, edges[-1][0])
            if nodes:
                self._max_node = max(self._max_node, nodes[-1][0])
            if edges or nodes or not self._marks:
                self._marks.append((now, self._max_edge, self._max_node))
            self.refreshes += 1
            return added + len(new_edges)

    def reload(self) -> None:
        """Rebuild from scratch (picks up widened edge timestamps and late commits)."""
        with self._lock:
            self.graph = nx.DiGraph()
            self._jobs.clear()
            self._cyclic.clear()
            self._max_edge = self._max_node = 0
            self._marks.clear()
            self.refresh(force=True)

    def _low_water(self, now: float) -> tuple[int, int]:
        if self._settle_s <= 0 or not self._marks:
            return self._max_edge, self._max_node
        # Keep the newest mark that is at least SETTLE_S old; rows above it are re-read.
        while len(self._marks) > 1 and now - self._marks[1][0] >= self._settle_s:
            self._marks.popleft()
        _, edge, node = self._marks[0]
        return edge, node

    def _add_nodes(self, rows: Iterable[Sequence[Any]]) -> int:
        known = self.graph._node
        fresh = []
        for nid, typ, namespace, name in rows:
            if nid in known:
                continue
            namespace = self._namespaces.setdefault(namespace, namespace)
            fresh.append((nid, {"type": typ, "namespace": namespace, "name": name}))
            if typ == "job":
                self._jobs.add(nid)
        self.graph.add_nodes_from(fresh)
        return len(fresh)

    def _add_edges(
        self, rows: Sequence[Sequence[Any]]
    ) -> tuple[list[NewEdge], list[Sequence[Any]]]:
        """Add edge rows; returns the new edges and the rows naming a node the graph does
        not have (not added)."""
        known = self.graph._node
        succ = self.graph._succ
        fresh: list[NewEdge] = []
        orphans: list[Sequence[Any]] = []
        for row in rows:
            _, src, dst, first, last = row
            if src not in known or dst not in known:
                orphans.append(row)
                continue
            data = succ[src].get(dst)
            if data is not None:  # read again inside the settle window
                data["first_seen"] = min(data["first_seen"], first)
                data["last_seen"] = max(data["last_seen"], last)
                continue
            fresh.append((src, dst, {"first_seen": first, "last_seen": last}))
        self.graph.add_edges_from(fresh)
        return fresh, orphans

    def _update_cycles(self, new_edges: list[NewEdge]) -> None:
        if not new_edges:
            return
        succ, pred = self.graph._succ, self.graph._pred
        if len(new_edges) > INCREMENTAL_CYCLE_EDGES:
            self._cyclic = cyclic_nodes(succ, pred)
        else:
            self._cyclic |= nodes_on_new_cycles(succ, pred, [(s, d) for s, d, _ in new_edges])

    # -- lookups -------------------------------------------------------------------------

    def resolve(self, ref: NodeRef | str) -> int:
        """The node id of ``ref`` (text ids are parsed), loaded into the graph.

        Raises NodeIdError for a malformed id and UnknownNodeError for a node the store
        does not know.
        """
        if isinstance(ref, str):
            ref = NodeRef.parse(ref)
        nid = lookup_node_id(self.store, ref)
        self.refresh()
        self.ensure_loaded((nid,))
        if nid not in self.graph:
            raise UnknownNodeError(ref)
        return nid

    def ensure_loaded(self, nids: Collection[int]) -> None:
        """Load these nodes if the graph does not have them yet (they may be newer than
        the last refresh, as the ids in a query result on another table can be)."""
        if self.graph._node.keys() >= set(nids):
            return
        self.refresh(force=True)
        missing = set(nids) - self.graph._node.keys()
        if missing:
            with self._lock, self.store.read() as conn:
                self._add_nodes(_nodes_by_id(conn, missing))

    def ref(self, nid: int) -> NodeRef:
        data = self.graph._node[nid]
        return NodeRef(data["type"], data["namespace"], data["name"])

    def is_job(self, nid: int) -> bool:
        return nid in self._jobs

    def in_cycle(self, nid: int) -> bool:
        """Whether the node lies on a directed cycle (bad instrumentation makes them)."""
        return nid in self._cyclic

    def touches_cycle(self, nids: Iterable[int]) -> bool:
        return not self._cyclic.isdisjoint(nids)

    @property
    def node_count(self) -> int:
        return int(self.graph.number_of_nodes())

    @property
    def edge_count(self) -> int:
        return int(self.graph.number_of_edges())

    # -- traversals ----------------------------------------------------------------------

    def distances(
        self,
        start: int,
        direction: Direction,
        *,
        depth: int | None = None,
        include_jobs: bool = True,
    ) -> dict[int, int]:
        """Every node reachable from ``start`` against (upstream) or along (downstream) the
        edges, with its distance; ``start`` itself is included at 0.

        With ``include_jobs`` every hop counts. Without, only hops onto datasets count, so
        dataset -> job -> dataset is one; jobs are still walked through and returned, at the
        distance of the dataset before them. ``depth`` caps the distance. Visited nodes are
        never expanded twice, so cycles end the walk instead of looping.
        """
        if depth is not None and depth < 0:
            raise ValueError(f"depth must be 0 or more, got {depth}")
        with self._lock:
            adj = self.graph._pred if direction == "upstream" else self.graph._succ
            jobs = self._jobs
            dist = {start: 0}
            layer = [start]
            d = 0
            # Layer by layer; a hop that does not count (onto a job, when jobs do not
            # count) joins the current layer instead of the next. The last layer allowed
            # by ``depth`` still takes in its jobs, but nothing past them.
            while layer:
                last = depth is not None and d >= depth
                if last and include_jobs:
                    break
                following: list[int] = []
                i = 0
                while i < len(layer):
                    for m in adj[layer[i]]:
                        if m in dist:
                            continue
                        if not include_jobs and m in jobs:
                            dist[m] = d
                            layer.append(m)
                        elif not last:
                            dist[m] = d + 1
                            following.append(m)
                    i += 1
                if last:
                    break
                layer = following
                d += 1
            return dist

    def reach(
        self, starts: Iterable[int], direction: Direction, *, within: Collection[int] | None = None
    ) -> set[int]:
        """Nodes reachable in one or more hops from any of ``starts`` (a start is included
        only if another start, or a cycle, leads back to it), optionally only through and
        into nodes of ``within``."""
        with self._lock:
            adj = self.graph._pred if direction == "upstream" else self.graph._succ
            seen: set[int] = set()
            stack = list(starts)
            while stack:
                for m in adj[stack.pop()]:
                    if m not in seen and (within is None or m in within):
                        seen.add(m)
                        stack.append(m)
            return seen

    def shortest_path(self, a: int, b: int) -> list[int] | None:
        """The shortest directed path a -> b (all hops count), or None."""
        with self._lock:
            try:
                path: list[int] = nx.bidirectional_shortest_path(self.graph, a, b)
            except nx.NetworkXNoPath:
                return None
            return path


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many small dicts: its passes,
    triggered by allocation counts, were most of the load time of a large graph."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _nodes_by_id(conn: Connection, ids: Collection[int]) -> list[Sequence[Any]]:
    rows: list[Sequence[Any]] = []
    for part in chunks(sorted(ids)):
        rows.extend(
            conn.execute(
                select(Node.id, Node.type, Node.namespace, Node.name).where(Node.id.in_(part))
            ).all()
        )
    return rows


def _unlisten(engine: Any, changed: _Changed) -> None:
    if event.contains(engine, "commit", changed.set):
        event.remove(engine, "commit", changed.set)


_GRAPHS: weakref.WeakKeyDictionary[Store, LineageGraph] = weakref.WeakKeyDictionary()
_GRAPHS_LOCK = threading.Lock()


def get_graph(store: Store) -> LineageGraph:
    """The process-wide lineage graph of ``store``, built on first use, then refreshed."""
    graph = _GRAPHS.get(store)
    if graph is None:
        with _GRAPHS_LOCK:
            graph = _GRAPHS.get(store)
            if graph is None:
                graph = _GRAPHS[store] = LineageGraph(store)
    return graph


__all__ = ["Direction", "LineageGraph", "get_graph"]
