"""Metric series downsampled in SQL, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from tests.tools.store.seed import T0, H, node, series
from tools.nodes import NodeRef
from tools.store import Store
from tools.store.metric_buckets import metric_buckets

DS = "dataset:snowflake://acme:stg_contacts"


def test_buckets_aggregate_each_series(store: Store) -> None:
    ds = node(store, DS)
    # Hourly values 0..23 over a day for the email column, a constant for user_id.
    series(store, ds, "data.null_fraction", [(T0 + i * H, float(i)) for i in range(24)],
           column="email")
    series(store, ds, "data.null_fraction", [(T0 + i * H, 0.5) for i in range(24)],
           column="user_id")
    series(store, ds, "data.row_count", [(T0, 10.0)])
    ref = NodeRef.parse(DS)

    view = metric_buckets(
        store, ref, name="data.null_fraction", since_us=T0, until_us=T0 + 24 * H, buckets=4
    )
    assert view.bucket_s == 6 * 3600 and view.since == "2026-03-01T00:00:00Z"
    email, user = view.series
    assert email.attributes == {"column": "email"}
    assert [(b.start[11:16], b.count, b.min, b.max, b.mean) for b in email.buckets] == [
        ("00:00", 6, 0.0, 5.0, 2.5),
        ("06:00", 6, 6.0, 11.0, 8.5),
        ("12:00", 6, 12.0, 17.0, 14.5),
        ("18:00", 6, 18.0, 23.0, 20.5),
    ]
    assert {b.mean for b in user.buckets} == {0.5}

    only = metric_buckets(store, ref, attributes={"column": "user_id"}, buckets=1)
    assert [s.name for s in only.series] == ["data.null_fraction"]
    assert only.series[0].buckets[0].count == 24  # range taken from the data

    everything = metric_buckets(store, ref, buckets=2)
    assert sorted(s.name for s in everything.series) == [
        "data.null_fraction", "data.null_fraction", "data.row_count"
    ]


def test_empty_range_and_bad_arguments(store: Store) -> None:
    ds = node(store, DS)
    series(store, ds, "data.row_count", [(T0, 10.0)])
    ref = NodeRef.parse(DS)
    later = metric_buckets(store, ref, since_us=T0 + H, until_us=T0 + 2 * H)
    assert [s.buckets for s in later.series] == [[]]
    assert metric_buckets(store, ref, name="nothing.here").series == []
    with pytest.raises(ValueError, match="must be before until"):
        metric_buckets(store, ref, since_us=T0 + H, until_us=T0)
    with pytest.raises(ValueError, match="buckets must be between 1 and 1000"):
        metric_buckets(store, ref, buckets=0)
