"""upstream / downstream / path against the truth written in OpenLineage and dbt files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.tools.lineage.lineage_helpers import (
    Relations,
    ds,
    ingest,
    job,
    relations,
    run_event,
    within,
)
from tools.ingest.dbt import ingest_dbt
from tools.ingest.openlineage import ingest_openlineage
from tools.lineage import downstream, path, upstream
from tools.nodes import NodeIdError, NodeRef
from tools.store import Store
from tools.store.queries import UnknownNodeError

SNOWFLAKE = "snowflake://ASDF1234.eu-central-1.aws"
DBT_NAMESPACES = {"build": None, "fail": None, "large": SNOWFLAKE}


def marquez_events(store: Store, shared_data: Path) -> list[dict[str, Any]]:
    """Ingest every Marquez example event; return those the store accepted."""
    accepted = []
    for f in sorted((shared_data / "openlineage" / "marquez-events").glob("*.json")):
        result = ingest_openlineage(store, f.read_bytes(), origin=str(f))
        if result.accepted:
            accepted.append(json.loads(f.read_bytes()))
    return accepted


def check_against(
    store: Store, succ: Relations, pred: Relations, nodes: list[str], *, jobs: bool
) -> None:
    """Each node's upstream / downstream equals the truth, at every distance."""
    for node in nodes:
        for name, fn, adj in (("upstream", upstream, pred), ("downstream", downstream, succ)):
            view = fn(store, node, include_jobs=jobs)
            found: list[Any] = getattr(view, name)
            got = {n.node: n.distance for n in found}
            assert set(got) == within(adj, node, None, jobs=jobs), (name, node)
            for hops in range(1, max(got.values(), default=0) + 1):
                near = {n for n, d in got.items() if d <= hops}
                assert near == within(adj, node, hops, jobs=jobs), (name, node, hops)
                capped = fn(store, node, depth=hops, include_jobs=jobs)
                assert {n.node for n in getattr(capped, name)} == near
            assert [(n.distance, n.node) for n in found] == sorted(
                (n.distance, n.node) for n in found
            )
            if not jobs:
                assert all(n.type == "dataset" for n in found)


@pytest.mark.parametrize("jobs", [False, True])
def test_marquez_events(store: Store, shared_data: Path, jobs: bool) -> None:
    events = marquez_events(store, shared_data)
    succ, pred = relations(events)
    assert len(succ) > 5  # enough lineage in the files for the comparison to mean something
    check_against(store, succ, pred, sorted(succ), jobs=jobs)


def test_marquez_one_hop_by_hand(store: Store, shared_data: Path) -> None:
    # event_simple.json: input-1 and input-2 -> myjob -> output-1.
    marquez_events(store, shared_data)
    ns = "my-datasource-namespace"
    view = upstream(store, ds("instance.schema.output-1", ns))
    assert [(n.node, n.distance) for n in view.upstream] == [
        (ds("instance.schema.input-1", ns), 1),
        (ds("instance.schema.input-2", ns), 1),
    ]
    assert view.model_dump()["upstream"][0] == {
        "node": ds("instance.schema.input-1", ns),
        "type": "dataset",
        "namespace": ns,
        "name": "instance.schema.input-1",
        "distance": 1,
    }
    with_jobs = upstream(store, ds("instance.schema.output-1", ns), include_jobs=True)
    first = with_jobs.upstream[0]
    assert (first.node, first.distance) == ("job:my-scheduler-namespace:myjob", 1)
    # A job with no inputs or outputs, and a dataset only a DatasetEvent named.
    for lonely in ("job:my-namespace:myjob", ds("my-dataset-name", "my-dataset-namespace")):
        assert downstream(store, lonely, include_jobs=True).downstream == []
        assert upstream(store, lonely, include_jobs=True).upstream == []


def test_marquez_in_place_update_is_a_cycle(store: Store, shared_data: Path) -> None:
    # event_full.json: myjob.mytask reads and writes instance.schema.table.
    marquez_events(store, shared_data)
    table = ds("instance.schema.table", "my-datasource-namespace")
    view = downstream(store, table)
    assert view.cycle
    assert table not in {n.node for n in view.downstream}
    assert not upstream(store, ds("instance.schema.output-1", "my-datasource-namespace")).cycle


@pytest.mark.parametrize("case", sorted(DBT_NAMESPACES))
def test_dbt_lineage_equals_the_reference_integration(
    store: Store, shared_data: Path, case: str
) -> None:
    folder = shared_data / "dbt" / case
    result = ingest_dbt(
        store,
        folder / "manifest.json",
        folder / "run_results.json",
        namespace=DBT_NAMESPACES[case],
        job_namespace="job-namespace",
    )
    assert result.accepted and not result.rejected
    expected = json.loads((folder / "expected_openlineage_events.json").read_text())
    succ, pred = relations(expected)
    datasets = sorted(n for n in succ if n.startswith("dataset:"))
    assert len(datasets) >= 2 and any(pred[n] for n in datasets)
    check_against(store, succ, pred, datasets, jobs=False)


def chain(store: Store) -> None:
    """a -> j1 -> b -> j2 -> c, and d -> j3 -> e on its own."""
    ingest(
        store,
        [
            run_event("j1", [ds("a")], [ds("b")]),
            run_event("j2", [ds("b")], [ds("c")]),
            run_event("j3", [ds("d")], [ds("e")]),
        ],
    )


def test_path_either_direction(store: Store) -> None:
    chain(store)
    down = path(store, ds("a"), ds("c"))
    assert down.found and down.direction == "downstream" and down.hops == 4
    assert [n.node for n in down.path] == [ds("a"), job("j1"), ds("b"), job("j2"), ds("c")]
    assert [n.distance for n in down.path] == [0, 1, 2, 3, 4]
    up = path(store, NodeRef.parse(ds("c")), ds("a"))
    assert up.found and up.direction == "upstream"
    assert [n.node for n in up.path] == [n.node for n in down.path]  # in the data's flow
    none = path(store, ds("a"), ds("e"))
    assert not none.found and none.path == [] and none.direction is None
    assert "no path" in none.message
    same = path(store, ds("b"), ds("b"))
    assert same.found and same.hops == 0 and [n.node for n in same.path] == [ds("b")]


def test_distance_counts_dataset_hops_unless_jobs(store: Store) -> None:
    chain(store)
    plain = downstream(store, ds("a"))
    assert [(n.node, n.distance) for n in plain.downstream] == [(ds("b"), 1), (ds("c"), 2)]
    jobs = downstream(store, ds("a"), include_jobs=True)
    assert [(n.node, n.distance) for n in jobs.downstream] == [
        (job("j1"), 1),
        (ds("b"), 2),
        (job("j2"), 3),
        (ds("c"), 4),
    ]
    assert [n.node for n in downstream(store, ds("a"), depth=1).downstream] == [ds("b")]
    assert downstream(store, ds("a"), depth=0).downstream == []
    from_job = upstream(store, job("j2"))
    assert [(n.node, n.distance) for n in from_job.upstream] == [(ds("b"), 1), (ds("a"), 2)]


def test_cycles_do_not_hang(store: Store) -> None:
    # a -> j1 -> b -> j2 -> a (two jobs reading each other's outputs), b -> j3 -> c.
    ingest(
        store,
        [
            run_event("j1", [ds("a")], [ds("b")]),
            run_event("j2", [ds("b")], [ds("a")]),
            run_event("j3", [ds("b")], [ds("c")]),
            run_event("j4", [ds("x")], [ds("y")]),
        ],
    )
    up = upstream(store, ds("c"))
    assert [(n.node, n.distance) for n in up.upstream] == [(ds("b"), 1), (ds("a"), 2)]
    assert up.cycle
    down = downstream(store, ds("a"), include_jobs=True)
    assert {n.node for n in down.downstream} == {job("j1"), ds("b"), job("j2"), job("j3"), ds("c")}
    assert down.cycle
    assert path(store, ds("b"), ds("a")).hops == 2
    assert not downstream(store, ds("x")).cycle
    assert upstream(store, ds("c"), depth=1).cycle  # b, one hop up, is on the cycle


def test_unknown_and_malformed_nodes(store: Store) -> None:
    chain(store)
    for call in (
        lambda n: upstream(store, n),
        lambda n: downstream(store, n),
        lambda n: path(store, ds("a"), n),
        lambda n: path(store, n, ds("a")),
    ):
        with pytest.raises(UnknownNodeError, match="unknown node dataset:warehouse:nope"):
            call(ds("nope"))
        with pytest.raises(NodeIdError, match="must look like"):
            call("warehouse.nope")
    with pytest.raises(ValueError, match="depth must be 0 or more"):
        upstream(store, ds("c"), depth=-1)
