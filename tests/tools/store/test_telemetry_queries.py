"""Schema history with diffs, freshness, and failed runs, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from tests.tools.store.seed import T0, H, edge, node, run, series, version
from tools.ingest.catalog import ingest_catalog
from tools.nodes import NodeRef
from tools.store import Store
from tools.store.queries import UnknownNodeError
from tools.store.telemetry_queries import freshness, runs_with_errors, schema_versions

DS = "dataset:s3://crm:contacts"
JOB = "job:dbt://acme:stg_contacts"
OUT = "dataset:snowflake://acme:stg_contacts"


def test_schema_versions_collapse_runs_and_diff_neighbours(store: Store) -> None:
    ds = node(store, DS)
    v1 = [("id", "int"), ("email", "string")]
    v2 = [("id", "bigint"), ("email_address", "string")]
    for i, fields in enumerate([v1, v1, v2, v2, v2, v1]):
        version(store, ds, T0 + i * H, fields)
    history = schema_versions(store, NodeRef.parse(DS), limit=10)
    assert history.total_versions == 3 and history.observations == 6
    newest, middle, oldest = history.versions
    assert oldest.diff is None and oldest.observations == 2
    assert middle.observations == 3 and middle.first_observed == "2026-03-01T02:00:00Z"
    assert [f.name for f in middle.diff.added] == ["email_address"]  # type: ignore[union-attr]
    assert [f.name for f in middle.diff.removed] == ["email"]  # type: ignore[union-attr]
    assert [(r.name, r.before, r.after) for r in middle.diff.retyped] == [  # type: ignore[union-attr]
        ("id", "int", "bigint")
    ]
    assert [f.name for f in newest.diff.added] == ["email"]  # type: ignore[union-attr]

    # A limit keeps the newest, and the oldest shown still has its diff.
    (only,) = schema_versions(store, NodeRef.parse(DS), limit=1).versions
    assert only.schema_hash == newest.schema_hash and only.diff is not None


def test_schema_versions_refuse_jobs_and_unknown_nodes(store: Store) -> None:
    node(store, JOB)
    with pytest.raises(ValueError, match="is a job"):
        schema_versions(store, NodeRef.parse(JOB))
    with pytest.raises(UnknownNodeError):
        schema_versions(store, NodeRef.parse("dataset:nowhere:x"))


def test_freshness_from_runs_metrics_and_observations(store: Store) -> None:
    src, job, out = node(store, DS), node(store, JOB), node(store, OUT)
    edge(store, src, job)
    edge(store, job, out)
    catalog = f'assets:\n  - node: "{OUT}"\n    slos:\n      - {{metric: freshness, ' \
              'objective: "<= 2h", target: 0.99, window: 28d}\n'
    assert ingest_catalog(store, catalog.encode()).accepted == 1
    run(store, job, "r1", "COMPLETE", T0, T0 + 600_000_000,
        nominal_start=T0, nominal_end=T0 + H)
    run(store, job, "r2", "FAIL", T0 + H, T0 + H + 60_000_000)
    now = T0 + 3 * H
    view = freshness(store, NodeRef.parse(OUT), now)
    assert view.basis == "run" and view.lag_s == 3 * 3600
    assert view.last_success_run == "r1" and view.last_success_job == JOB
    assert view.finished_after_schedule_s == 600 and view.overdue_s == 2 * 3600
    assert view.last_failure_at == "2026-03-01T01:01:00Z"
    assert view.objective is not None and view.objective.threshold_s == 7200
    assert view.within_objective is False

    # A source nobody writes: its own reported lag, aged to now.
    series(store, src, "data.freshness.lag", [(T0 + H, 120.0)])
    source = freshness(store, NodeRef.parse(DS), now)
    assert source.basis == "metric" and source.lag_s == 120 + 2 * 3600
    assert source.within_objective is None  # no objective in the catalog

    # The job itself.
    assert freshness(store, NodeRef.parse(JOB), now).last_success_run == "r1"


def test_runs_with_errors_newest_first(store: Store) -> None:
    src, job, out = node(store, DS), node(store, JOB), node(store, OUT)
    edge(store, src, job)
    edge(store, job, out)
    run(store, job, "ok", "COMPLETE", T0, T0 + 1)
    run(store, job, "f1", "FAIL", T0 + H, T0 + H + 1, error_message="boom 1")
    run(store, job, "f2", "ABORT", T0 + 2 * H, T0 + 2 * H + 1)
    run(store, job, "w", "COMPLETE", T0 + 3 * H, T0 + 3 * H + 1, error_message="warned")
    failed = runs_with_errors(store, NodeRef.parse(JOB))
    assert [r.run_id for r in failed] == ["w", "f2", "f1"]
    # Through the dataset the job writes, windowed and paged.
    windowed = runs_with_errors(
        store, NodeRef.parse(OUT), since_us=T0 + H, until_us=T0 + 2 * H + 1, limit=1, offset=1
    )
    assert [r.run_id for r in windowed] == ["f1"]
    assert windowed[0].error_message == "boom 1"
