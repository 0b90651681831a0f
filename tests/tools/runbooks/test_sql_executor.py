"""SQL executor on real SQLite/PostgreSQL tables: exact dry runs, changes, exact rollback."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, text

from tests.tools.runbooks.support import AUDIENCE, T0, make_context, plan_one
from tools.runbooks.executors import SqlExecutor
from tools.runbooks.executors.sql import Relation, view_definition
from tools.runbooks.loader import DEFAULT_DIR
from tools.runbooks.models import ActionError, PlannedAction
from tools.store import Store

FALLBACK = (DEFAULT_DIR / "snapshot_fallback.yaml").read_text()
REHYDRATE = (DEFAULT_DIR / "identity_overmerge_rehydrate.yaml").read_text()
QUARANTINE = (DEFAULT_DIR / "bad_batch_quarantine.yaml").read_text()


def _rows(conn: Connection, name: str) -> list[tuple[Any, ...]]:
    return sorted(tuple(r) for r in conn.execute(text(f"SELECT * FROM {name}")))


def _exec(store: Store, *statements: str) -> None:
    with store.engine.begin() as conn:
        for s in statements:
            conn.execute(text(s))


def _state(store: Store, view: str, table: str) -> tuple[str | None, list[tuple[Any, ...]]]:
    with store.engine.connect() as conn:
        return view_definition(conn, Relation(view)), _rows(conn, table)


def _fallback_action() -> PlannedAction:
    ctx = make_context(
        root_cause="dataset:pg:raw",
        root_cause_kind="schema_drift",
        at_risk=[{"node": AUDIENCE, "kind": "audience"}],
    )
    return plan_one(FALLBACK, ctx).model_copy(update={"run_key": "p1"})


def test_view_fallback_dry_run_execute_verify_and_exact_rollback(store: Store) -> None:
    _exec(
        store,
        "CREATE TABLE audience_src (id INTEGER, email TEXT)",
        "INSERT INTO audience_src VALUES (1, 'a@x'), (2, NULL)",
        "CREATE TABLE audience_cart__snapshot_20260301 (id INTEGER, email TEXT)",
        "INSERT INTO audience_cart__snapshot_20260301 VALUES (9, 'old@x')",
        "CREATE TABLE audience_cart__snapshot_20260302 (id INTEGER, email TEXT)",
        "INSERT INTO audience_cart__snapshot_20260302 VALUES (1, 'a@x'), (2, 'b@x')",
        "CREATE VIEW audience_cart AS SELECT id, email FROM audience_src WHERE id > 0",
    )
    executor = SqlExecutor({"warehouse": store.engine})
    action = _fallback_action()
    before = _state(store, "audience_cart", "audience_cart")
    preview = executor.dry_run(action)
    assert _state(store, "audience_cart", "audience_cart") == before  # nothing changed
    assert (
        preview.summary == "point view audience_cart at snapshot audience_cart__snapshot_20260302"
    )
    assert preview.steps[-1].endswith("AS SELECT * FROM audience_cart__snapshot_20260302;")
    assert preview.observed["definition"] == before[0]
    prior = executor.capture(action)
    outcome = executor.execute(action, prior)
    assert outcome.ok, outcome.detail
    with store.engine.connect() as conn:
        assert _rows(conn, "audience_cart") == [(1, "a@x"), (2, "b@x")]
    assert executor.verify(action, prior).status == "passed"
    undone = executor.rollback(action, prior)
    assert undone.ok, undone.detail
    assert _state(store, "audience_cart", "audience_cart") == before
    assert executor.verify(action, prior).status == "failed"


def test_rehydrate_replaces_rows_and_rollback_restores_them(store: Store) -> None:
    _exec(
        store,
        "CREATE TABLE identities (person TEXT, profile TEXT)",
        "INSERT INTO identities VALUES ('p1', 'a'), ('p1', 'b'), ('p1', 'c')",
        "CREATE TABLE identities__snapshot_1 (person TEXT, profile TEXT)",
        "INSERT INTO identities__snapshot_1 VALUES ('p1', 'a'), ('p2', 'b'), ('p3', 'c')",
    )
    ctx = make_context(root_cause="dataset:pg:identities", root_cause_kind="identity_overmerge")
    action = plan_one(REHYDRATE, ctx).model_copy(update={"run_key": "P-42"})
    executor = SqlExecutor({"warehouse": store.engine})
    with store.engine.connect() as conn:
        original = _rows(conn, "identities")
    preview = executor.dry_run(action)
    assert preview.steps[0] == (
        "CREATE TABLE identities__fsbk_p_42 AS SELECT * FROM identities WHERE 1 = 0;"
    )
    with store.engine.connect() as conn:
        assert _rows(conn, "identities") == original
    prior = executor.capture(action)
    assert executor.execute(action, prior).ok
    with store.engine.connect() as conn:
        assert _rows(conn, "identities") == [("p1", "a"), ("p2", "b"), ("p3", "c")]
    assert executor.verify(action, prior).status == "passed"
    assert executor.rollback(action, prior).ok
    with store.engine.connect() as conn:
        assert _rows(conn, "identities") == original
        assert not executor.check(action, "table_exists", {"table": "identities__fsbk_p_42"}).ok


def test_quarantine_moves_the_window_and_rollback_moves_it_back(store: Store) -> None:
    ts = "TIMESTAMP" if store.is_sqlite else "TIMESTAMP WITH TIME ZONE"
    inside = (T0 - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")
    outside = (T0 - timedelta(days=2)).strftime("%Y-%m-%d %H:%M:%S")
    _exec(
        store,
        f"CREATE TABLE events (id INTEGER, loaded_at {ts})",
        f"INSERT INTO events VALUES (1, '{outside}+00:00'), (2, '{inside}+00:00')"
        if not store.is_sqlite
        else f"INSERT INTO events VALUES (1, '{outside}'), (2, '{inside}')",
    )
    ctx = make_context(root_cause="dataset:pg:events", root_cause_kind="duplicates")
    action = plan_one(QUARANTINE, ctx).model_copy(update={"run_key": "q1"})
    executor = SqlExecutor({"warehouse": store.engine})
    with store.engine.connect() as conn:
        original = _rows(conn, "events")
    preview = executor.dry_run(action)
    assert preview.observed["rows_in_range"] == 1
    with store.engine.connect() as conn:
        assert _rows(conn, "events") == original
    prior = executor.capture(action)
    assert executor.execute(action, prior).ok
    with store.engine.connect() as conn:
        assert [r[0] for r in _rows(conn, "events")] == [1]
        assert [r[0] for r in _rows(conn, "events__fsq_q1")] == [2]
    assert executor.verify(action, prior).status == "passed"
    assert executor.rollback(action, prior).ok
    with store.engine.connect() as conn:
        assert _rows(conn, "events") == original


def test_missing_objects_and_bad_names_are_clear(store: Store) -> None:
    executor = SqlExecutor({"warehouse": store.engine})
    action = _fallback_action()
    assert not executor.check(action, "view_exists", {}).ok
    snap = executor.check(action, "snapshot_exists", {})
    assert not snap.ok and "no snapshot table starts with 'audience_cart__snapshot_'" in snap.detail
    with pytest.raises(ActionError, match="not a plain table or view name"):
        Relation("x; DROP TABLE y")
    unconfigured = SqlExecutor({}).check(action, "target_configured", {})
    assert not unconfigured.ok and "FLOWSLEUTH_SECRET_WAREHOUSE_DB_URL" in unconfigured.detail
