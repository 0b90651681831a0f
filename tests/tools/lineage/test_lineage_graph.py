"""The graph service: built once per store, refreshed incrementally, rate-limited."""

from __future__ import annotations

import pytest
from sqlalchemy import func, insert, select

from tests.tools.lineage.lineage_helpers import ds, ingest, job, run_event
from tools.lineage import downstream, get_graph, upstream
from tools.lineage import graph as graph_module
from tools.lineage.graph import LineageGraph
from tools.nodes import NodeRef
from tools.store import Store, open_store
from tools.store.models import Edge, Node
from tools.store.queries import node_id


def edge_rows(store: Store) -> int:
    with store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(Edge)).scalar_one())


def test_graph_mirrors_the_store(store: Store) -> None:
    ingest(store, [run_event("j1", [ds("a"), ds("b")], [ds("c")])])
    graph = get_graph(store)
    assert graph.node_count == 4 and graph.edge_count == edge_rows(store) == 3
    a, j1 = node_id(store, NodeRef.parse(ds("a"))), node_id(store, NodeRef.parse(job("j1")))
    assert graph.graph.nodes[a] == {"type": "dataset", "namespace": "warehouse", "name": "a"}
    assert graph.is_job(j1) and not graph.is_job(a)
    stamps = graph.graph.edges[a, j1]
    assert stamps["first_seen"] == stamps["last_seen"] > 0
    assert str(graph.ref(a)) == ds("a")


def test_refresh_is_incremental(store: Store) -> None:
    ingest(store, [run_event("j1", [ds("a")], [ds("b")])])
    graph = get_graph(store)
    assert [n.node for n in downstream(store, ds("a")).downstream] == [ds("b")]
    rows_before, edges_before = graph.rows_read, graph.edge_count
    a, j1 = node_id(store, NodeRef.parse(ds("a"))), node_id(store, NodeRef.parse(job("j1")))
    old_edge = graph.graph.edges[a, j1]

    ingest(store, [run_event("j2", [ds("b")], [ds("c")])])
    # The commit in this process makes the next query refresh, without waiting.
    assert [n.node for n in downstream(store, ds("a")).downstream] == [ds("b"), ds("c")]
    assert get_graph(store) is graph
    assert graph.rows_read > rows_before
    assert graph.edge_count == edges_before + 2 == edge_rows(store)
    # Nothing was rebuilt: the edge loaded first is still the same object.
    assert graph.graph.edges[a, j1] is old_edge
    if store.is_sqlite:  # exactly the new rows were read (PostgreSQL re-reads recent ones)
        assert graph.rows_read == rows_before + 2 + 2  # two edges, two nodes (j2, c)


def test_refresh_is_rate_limited_for_other_writers(store: Store, db_url: str) -> None:
    ingest(store, [run_event("j1", [ds("a")], [ds("b")])])
    graph = LineageGraph(store, min_interval_s=3600)
    refreshes = graph.refreshes
    assert graph.refresh() == 0 and graph.refreshes == refreshes  # nothing new: no query

    other = open_store(db_url)  # another process's writes: no commit event here
    try:
        ingest(other, [run_event("j2", [ds("b")], [ds("c")])])
    finally:
        other.dispose()
    assert graph.refresh() == 0 and graph.refreshes == refreshes
    assert graph.refresh(force=True) == 4  # job j2, dataset c and their two edges
    assert graph.edge_count == edge_rows(store) == 4

    ingest(store, [run_event("j3", [ds("c")], [ds("d")])])  # this process writes
    assert graph.refresh() == 4
    assert graph.edge_count == edge_rows(store) == 6


def test_one_graph_per_store(store: Store, db_url: str) -> None:
    ingest(store, [run_event("j1", [ds("a")], [ds("b")])])
    assert get_graph(store) is get_graph(store)
    other = open_store(db_url)
    try:
        assert get_graph(other) is not get_graph(store)
        assert get_graph(other).edge_count == get_graph(store).edge_count
    finally:
        other.dispose()


def test_reload_rebuilds(store: Store) -> None:
    ingest(store, [run_event("j1", [ds("a")], [ds("b")])])
    graph = get_graph(store)
    a, j1 = node_id(store, NodeRef.parse(ds("a"))), node_id(store, NodeRef.parse(job("j1")))
    old_edge = graph.graph.edges[a, j1]
    graph.reload()
    assert graph.graph.edges[a, j1] == old_edge and graph.graph.edges[a, j1] is not old_edge
    assert graph.edge_count == 2


def test_nodes_committed_late_are_still_loaded(store: Store) -> None:
    """A node row below the loaded ids (a slow transaction on PostgreSQL) that an edge or
    a query names is fetched by id."""
    ingest(store, [run_event("j1", [ds("a")], [ds("b")])])
    graph = get_graph(store)
    top = node_id(store, NodeRef.parse(ds("b"))) + 100
    with store.write() as conn:
        conn.execute(
            insert(Node),
            [
                {
                    "id": top,
                    "type": "dataset",
                    "namespace": "warehouse",
                    "name": "late_high",
                    "first_seen": 1,
                    "last_seen": 1,
                },
            ],
        )
    graph.refresh(force=True)
    with store.write() as conn:
        conn.execute(
            insert(Node),
            [
                {
                    "id": top - 1,
                    "type": "job",
                    "namespace": "scheduler",
                    "name": "late_job",
                    "first_seen": 1,
                    "last_seen": 1,
                },
                {
                    "id": top - 2,
                    "type": "dataset",
                    "namespace": "warehouse",
                    "name": "late_low",
                    "first_seen": 1,
                    "last_seen": 1,
                },
            ],
        )
        a = node_id(store, NodeRef.parse(ds("a")))
        conn.execute(
            insert(Edge),
            [
                {"src_id": a, "dst_id": top - 1, "source": "test", "first_seen": 1, "last_seen": 1},
            ],
        )
    assert [n.node for n in downstream(store, ds("a"), include_jobs=True).downstream] == [
        job("j1"),
        job("late_job", "scheduler"),
        ds("b"),
    ]
    assert upstream(store, ds("late_low")).upstream == []  # no edge names it: found by id


@pytest.mark.parametrize("per_edge", [True, False])
def test_cycles_found_as_edges_arrive(
    store: Store, per_edge: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not per_edge:  # every refresh takes the whole-graph pass instead
        monkeypatch.setattr(graph_module, "INCREMENTAL_CYCLE_EDGES", 0)
    ingest(store, [run_event("j1", [ds("a")], [ds("b")]), run_event("j2", [ds("b")], [ds("c")])])
    assert not downstream(store, ds("a")).cycle
    ingest(store, [run_event("j3", [ds("c")], [ds("a")])])
    view = downstream(store, ds("a"))
    assert view.cycle and [n.node for n in view.downstream] == [ds("b"), ds("c")]
    graph = get_graph(store)
    on_cycle = {str(graph.ref(n)) for n in graph.graph if graph.in_cycle(n)}
    assert on_cycle == {ds("a"), ds("b"), ds("c"), job("j1"), job("j2"), job("j3")}
