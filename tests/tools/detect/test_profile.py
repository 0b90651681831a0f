"""Warehouse profiling through SQLAlchemy on real SQLite and PostgreSQL tables, stored as
the node's telemetry and read back by the detectors."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import PG_URL
from tests.tools.detect.storedata import DAY, T0
from tools.detect.profile import ProfileError, profile_table
from tools.detect.signals import NodeNames, load_versions, version_series
from tools.nodes import NodeRef
from tools.store import Store
from tools.store.queries import query_metrics

ROWS = [(i % 90, None if i % 4 == 0 else f"u{i}@example.com", i * 1.5,
         f"2025-03-0{1 + i % 9}T10:00:00") for i in range(100)]
AT = T0 + 9 * DAY  # 2025-03-10T00:00:00Z: the newest row (03-09 10:00) is 14 h old


@pytest.fixture
def sqlite_source(tmp_path: Path) -> str:
    path = tmp_path / "warehouse.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE orders (id INTEGER, email TEXT, amount REAL, "
                 "created_at TIMESTAMP)")
    conn.executemany("INSERT INTO orders VALUES (?, ?, ?, ?)", ROWS)
    conn.commit()
    conn.close()
    return f"sqlite:///{path}"


@pytest.fixture
def pg_source() -> Iterator[tuple[str, str]]:
    """A throwaway schema with the same table in the test PostgreSQL."""
    if not PG_URL:
        pytest.skip("FLOWSLEUTH_TEST_PG_URL not set")
    schema = f"wh_{uuid.uuid4().hex[:10]}"
    engine = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        conn.execute(text(f'CREATE TABLE "{schema}".orders (id integer, email text, '
                          "amount double precision, created_at timestamp)"))
        conn.execute(text(f'INSERT INTO "{schema}".orders VALUES (:i, :e, :a, '
                          "CAST(:t AS timestamp))"),
                     [{"i": i, "e": e, "a": a, "t": t} for i, e, a, t in ROWS])
    try:
        yield PG_URL, schema
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def _check(store: Store, source: str, table: str) -> None:
    result = profile_table(store, source, table, key="id", timestamp="created_at", at_us=AT)
    assert result.row_count == 100
    nulls = {c.name: c.null_fraction for c in result.columns}
    assert nulls == {"id": 0.0, "email": 0.25, "amount": 0.0, "created_at": 0.0}
    assert result.distinct_keys == 90 and result.duplicate_fraction == pytest.approx(0.1)
    assert result.newest == "2025-03-09T10:00:00Z"
    assert result.freshness_lag_s == pytest.approx(14 * 3600)
    ref = NodeRef.parse(result.node)
    metrics = {(s.name, tuple(s.attributes.items())): s.points[-1].value
               for s in query_metrics(store, ref)}
    assert metrics[("data.row_count", ())] == 100
    assert metrics[("data.null_fraction", (("column", "email"),))] == 0.25
    assert metrics[("data.duplicate_fraction", (("column", "id"),))] == pytest.approx(0.1)
    assert metrics[("data.freshness.lag", ())] == pytest.approx(14 * 3600)
    with store.read() as conn:
        (version,) = load_versions(conn, NodeNames(conn), at_us=AT, since_us=AT - 1)
    assert version.role == "profile" and version.node == ref
    assert [f["name"] for f in version.schema_fields or []] == ["id", "email", "amount",
                                                                 "created_at"]
    from_version = {(s.key.metric, s.key.attributes) for s in version_series([version])}
    assert ("data.null_fraction", (("column", "email"),)) in from_version


def test_profile_sqlite_table(store: Store, sqlite_source: str, tmp_path: Path) -> None:
    _check(store, sqlite_source, "orders")
    node = profile_table(store, sqlite_source, "orders", at_us=AT).node
    assert node == f"dataset:sqlite://{(tmp_path / 'warehouse.db').resolve()}:main.orders"


@pytest.mark.postgres
def test_profile_postgresql_table(store: Store, pg_source: tuple[str, str]) -> None:
    url, schema = pg_source
    _check(store, url, f"{schema}.orders")
    result = profile_table(store, url, f"{schema}.orders", node="dataset:pg://wh:orders",
                           at_us=AT + DAY)
    assert result.node == "dataset:pg://wh:orders" and result.key is None
    assert result.freshness_lag_s is None and result.duplicate_fraction is None


def test_unknown_table_and_columns_are_named(store: Store, sqlite_source: str) -> None:
    with pytest.raises(ProfileError, match=r"no table 'order' in schema 'main' \(tables: orders"):
        profile_table(store, sqlite_source, "order")
    with pytest.raises(ProfileError, match=r"key 'order_id' is not a column of .*orders "
                                           r"\(columns: id, email, amount, created_at\)"):
        profile_table(store, sqlite_source, "orders", key="order_id")
    with pytest.raises(ProfileError, match="timestamp 'ts' is not a column"):
        profile_table(store, sqlite_source, "orders", timestamp="ts")
    with pytest.raises(ProfileError, match="node"):
        profile_table(store, sqlite_source, "orders", node="orders")
    assert query_metrics(store, None) == [], "nothing stored on error"


def test_bad_sources_are_named(store: Store, tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="not a database URL"):
        profile_table(store, "not a url", "t")
    with pytest.raises(ProfileError, match="no such SQLite file"):
        profile_table(store, f"sqlite:///{tmp_path / 'missing.db'}", "t")
    with pytest.raises(ProfileError, match="not-a-driver"):
        profile_table(store, "not-a-driver://host/db", "t")


def test_a_text_timestamp_that_is_not_a_time(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (id INTEGER, ts TEXT)")
    conn.execute("INSERT INTO t VALUES (1, 'yesterday')")
    conn.commit()
    conn.close()
    with pytest.raises(ProfileError, match="'yesterday' is not an ISO 8601 time"):
        profile_table(store, f"sqlite:///{path}", "t", timestamp="ts")
