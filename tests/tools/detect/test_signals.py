"""Signals as the store held them at a moment: points, dataset versions, runs, landings."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import insert, select

from tests.tools.detect.storedata import (
    DAY,
    HOUR,
    T0,
    Dataset,
    Point,
    run_events,
    send_events,
    send_points,
)
from tools.detect.signals import (
    NodeNames,
    freshness_lag_s,
    iter_points,
    landings,
    list_metric_series,
    load_metric_series,
    load_runs,
    load_versions,
    load_writers,
    schedule_interval,
    version_series,
)
from tools.nodes import NodeRef
from tools.store import Store
from tools.store.models import MetricPoint, MetricSeries

NS = "snowflake://acme"
JOB = ("dbt://acme", "stg_orders")
OUT = Dataset(NS, "stg_orders", [("order_id", "varchar"), ("email", "varchar")])


def _orders(rows: int, nulls: int, distinct: int) -> Dataset:
    return Dataset(NS, "stg_orders", OUT.fields, rows, {"email": nulls}, {"order_id": distinct})


def test_points_as_of_a_moment(store: Store) -> None:
    send_points(store, [Point(NS, "t", "data.row_count", T0 + h * HOUR, float(h))
                        for h in range(10)])
    series = load_metric_series(store, at_us=T0 + 5 * HOUR, since_us=T0 + HOUR)
    (s,) = series
    assert s.key.node == NodeRef.dataset(NS, "t") and s.key.metric == "data.row_count"
    assert s.ts_us.tolist() == [T0 + h * HOUR for h in range(2, 6)], "(since, at]"
    assert s.values.tolist() == [2.0, 3.0, 4.0, 5.0]
    assert load_metric_series(store, at_us=T0 + 5 * HOUR, since_us=T0,
                              names=["data.null_fraction"]) == []


def test_non_finite_values_survive_the_fast_path(store: Store) -> None:
    """JSON has no Infinity: a batch holding one is parsed the slow way, not lost."""
    send_points(store, [Point(NS, "t", "data.row_count", T0 + h * HOUR, 1.0) for h in range(3)])
    with store.write() as conn:
        sid = conn.execute(select(MetricSeries.id)).scalar_one()
        conn.execute(insert(MetricPoint).values(series_id=sid, ts=T0 + 5 * HOUR,
                                                value=float("inf")))
    (s,) = load_metric_series(store, at_us=T0 + DAY, since_us=T0 - 1)
    assert s.values[:3].tolist() == [1.0, 1.0, 1.0] and np.isinf(s.values[3])


def test_batches_are_read_ahead_and_complete(store: Store) -> None:
    send_points(store, [Point(NS, f"t{i}", "data.row_count", T0 + h * HOUR, float(i))
                        for i in range(7) for h in range(4)])
    with store.read() as conn:
        metas = list_metric_series(conn, NodeNames(conn))
    batches = list(iter_points(store, metas, since_us=T0 - 1, at_us=T0 + DAY, batch=3))
    assert [len(b) for b in batches] == [3, 3, 1]
    assert sorted(s.key.node.name for b in batches for s in b) == [f"t{i}" for i in range(7)]
    assert list(iter_points(store, [], since_us=T0, at_us=T0 + DAY)) == []


def _daily_loads(store: Store, days: int) -> None:
    events = []
    for d in range(days):
        slot = T0 + d * DAY + 2 * HOUR
        # Day 3 runs two hours late: its data still belongs to its slot.
        start = slot + (2 * HOUR if d == 3 else 60_000_000)
        events += run_events(JOB, slot, start, start + 10 * 60_000_000, "COMPLETE",
                             outputs=[_orders(1000 + d, 100 + d, 990)])
    send_events(store, events)


def test_versions_give_volume_nulls_and_duplicates_at_their_slot(store: Store) -> None:
    _daily_loads(store, 5)
    with store.read() as conn:
        versions = load_versions(conn, NodeNames(conn), at_us=T0 + 10 * DAY, since_us=T0 - 1)
    series = {(s.key.metric, s.key.attributes): s for s in version_series(versions)}
    rows = series[("data.row_count", ())]
    assert rows.values.tolist() == [1000.0, 1001.0, 1002.0, 1003.0, 1004.0]
    assert rows.ts_us[3] == T0 + 3 * DAY + 2 * HOUR, "the late run's data is its slot's"
    nulls = series[("data.null_fraction", (("column", "email"),))]
    assert nulls.values[0] == pytest.approx(0.1)
    dups = series[("data.duplicate_fraction", (("column", "order_id"),))]
    assert dups.values[0] == pytest.approx(1 - 990 / 1000)


def test_runs_folded_to_their_state_at_the_moment(store: Store) -> None:
    slot = T0 + 2 * HOUR
    send_events(store, run_events(JOB, slot, slot + HOUR, slot + 2 * HOUR, "FAIL",
                                  outputs=[OUT], error="boom"))
    with store.read() as conn:
        nodes = NodeNames(conn)
        running = load_runs(conn, nodes, at_us=slot + 90 * 60_000_000, since_us=T0)
        failed = load_runs(conn, nodes, at_us=slot + 3 * HOUR, since_us=T0)
        before = load_runs(conn, nodes, at_us=slot, since_us=T0)
    assert before == []
    (r,) = running
    assert r.state == "START" and r.ended_at is None and r.error_message is None
    (f,) = failed
    assert f.state == "FAIL" and f.error_message == "boom" and f.ended_at == slot + 2 * HOUR
    assert f.scheduled_at == slot and f.job == NodeRef.job(*JOB)


def test_landings_and_freshness_lag(store: Store) -> None:
    _daily_loads(store, 5)
    at = T0 + 4 * DAY + 5 * HOUR
    with store.read() as conn:
        nodes = NodeNames(conn)
        runs = load_runs(conn, nodes, at_us=at, since_us=T0 - DAY)
        writers = load_writers(conn, nodes, at_us=at)
    ds = NodeRef.dataset(NS, "stg_orders")
    assert writers == {ds: [NodeRef.job(*JOB)]}
    landed = landings(runs, writers)[ds]
    assert [x.slot_us for x in landed] == [T0 + d * DAY + 2 * HOUR for d in range(5)]
    lag = freshness_lag_s(landed, at)
    assert lag == pytest.approx((at - landed[-1].landed_us) / 1e6)
    assert freshness_lag_s(landed, T0) is None
    assert schedule_interval([x.slot_us for x in landed]) == DAY
    assert schedule_interval([T0, T0 + DAY]) is None, "two slots are no schedule"
