"""Warehouse profiling: measure a table through SQLAlchemy and keep it as telemetry.

One aggregate query gives the row count, each column's non-null count, the distinct count
of a key and the newest value of a timestamp column. The result is stored as the node's
telemetry like anything ingested: a dataset version with role ``profile`` (schema, row
count, column metrics) and metric points ``data.row_count``, ``data.null_fraction{column}``,
``data.duplicate_fraction{column}`` and ``data.freshness.lag``, so the detectors read a
profiled table the way they read one reported by its producer.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from sqlalchemy import MetaData, Table, create_engine, distinct, func, insert, inspect, select
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, NoSuchTableError, SQLAlchemyError

from tools.ingest.openlineage import schema_hash
from tools.ingest.otlp_metrics import MetricBatch, attr_hash
from tools.ingest.otlp_metrics import Series as MetricSeriesBatch
from tools.nodes import NodeIdError, NodeRef
from tools.store.db import Store
from tools.store.models import DatasetVersion, now_micros, to_micros
from tools.store.writes import resolve_nodes
from tools.timeutil import iso, parse_timestamp

MAX_LISTED = 20


class ProfileError(ValueError):
    """A profile that cannot be taken; the message names the source, table or column."""


class ColumnProfile(BaseModel):
    name: str
    type: str
    nullable: bool
    null_count: int
    null_fraction: float | None


class ProfileResult(BaseModel):
    node: str
    source: str  # the URL with any password hidden
    table: str  # schema.table
    profiled_at: str
    row_count: int
    columns: list[ColumnProfile]
    key: str | None = None
    distinct_keys: int | None = None
    duplicate_fraction: float | None = None
    timestamp: str | None = None
    newest: str | None = None
    freshness_lag_s: float | None = None


def _engine(source_url: str) -> tuple[Engine, URL]:
    try:
        url = make_url(source_url)
    except ArgumentError:
        raise ProfileError(f"source {source_url!r} is not a database URL such as "
                           "'postgresql://user@host/db' or 'sqlite:///path/to.db'") from None
    if url.get_backend_name() == "postgresql" and url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:") \
            and not Path(url.database or "").expanduser().exists():
        raise ProfileError(f"{_shown(url)}: no such SQLite file")
    try:
        return create_engine(url), url
    except (NoSuchModuleError, ArgumentError) as exc:
        raise ProfileError(f"{_shown(url)}: {exc}") from None


def _shown(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def default_node(url: URL, schema: str, table: str) -> NodeRef:
    """``dataset:<dialect>://<host or file>:<schema.table>``."""
    dialect = url.get_backend_name()
    if dialect == "sqlite":
        where = str(Path(url.database).expanduser().resolve()) if url.database and \
            url.database != ":memory:" else "memory"
    else:
        where = url.host or "localhost"
        if url.port:
            where = f"{where}:{url.port}"
    return NodeRef.dataset(f"{dialect}://{where}", f"{schema}.{table}")


def _split(inspector: Any, table: str) -> tuple[str, str]:
    default = inspector.default_schema_name or "main"
    if "." in table:
        schema, _, name = table.partition(".")
        if schema in inspector.get_schema_names():
            return schema, name
    return default, table


def _table(engine: Engine, url: URL, table: str) -> tuple[str, str, Table]:
    try:
        inspector = inspect(engine)
        schema, name = _split(inspector, table)
        if not inspector.has_table(name, schema=schema):
            known = sorted(inspector.get_table_names(schema=schema))
            listed = ", ".join(known[:MAX_LISTED]) + (" ..." if len(known) > MAX_LISTED else "")
            raise ProfileError(f"{_shown(url)}: no table {table!r} in schema {schema!r} "
                               f"(tables: {listed or 'none'})")
        return schema, name, Table(name, MetaData(), autoload_with=engine, schema=schema)
    except NoSuchTableError:
        raise ProfileError(f"{_shown(url)}: no table {table!r}") from None
    except SQLAlchemyError as exc:
        raise ProfileError(f"{_shown(url)}: {str(exc).splitlines()[0]}") from None


def _column(tbl: Table, name: str | None, option: str) -> str | None:
    if name is None:
        return None
    if name not in tbl.c:
        raise ProfileError(f"{option} {name!r} is not a column of {tbl.fullname} "
                           f"(columns: {', '.join(c.name for c in tbl.c)})")
    return name


def _micros(value: Any) -> int | None:
    """The newest timestamp as epoch microseconds (datetimes, dates, ISO text, epochs)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return to_micros(value)
    if isinstance(value, date):
        return to_micros(datetime(value.year, value.month, value.day, tzinfo=UTC))
    if isinstance(value, str):
        try:
            return to_micros(parse_timestamp(value))
        except ValueError:
            raise ProfileError(f"timestamp value {value!r} is not an ISO 8601 time") from None
    if isinstance(value, int | float) and math.isfinite(value):
        # Epoch seconds, milliseconds or microseconds, told apart by magnitude.
        scale = 1e6 if abs(value) < 1e11 else 1e3 if abs(value) < 1e14 else 1.0
        return int(value * scale)
    raise ProfileError(f"timestamp value {value!r} ({type(value).__name__}) is not a time")


def _measure(engine: Engine, url: URL, tbl: Table, key: str | None, ts: str | None
             ) -> tuple[int, list[int], int | None, Any]:
    cols = list(tbl.c)
    exprs: list[Any] = [func.count().label("rows")]
    exprs += [func.count(c).label(f"n{i}") for i, c in enumerate(cols)]
    exprs.append(func.count(distinct(tbl.c[key])) if key else func.count().label("k"))
    exprs.append(func.max(tbl.c[ts]) if ts else func.count().label("t"))
    try:
        with engine.connect() as conn:
            row = conn.execute(select(*exprs).select_from(tbl)).one()
    except SQLAlchemyError as exc:
        raise ProfileError(f"{_shown(url)}: profiling {tbl.fullname} failed: "
                           f"{str(exc).splitlines()[0]}") from None
    rows = int(row[0])
    present = [int(v) for v in row[1 : 1 + len(cols)]]
    distinct_keys = int(row[1 + len(cols)]) if key else None
    newest = row[2 + len(cols)] if ts else None
    return rows, present, distinct_keys, newest


def profile_table(
    store: Store,
    source_url: str,
    table: str,
    key: str | None = None,
    timestamp: str | None = None,
    node: NodeRef | str | None = None,
    at_us: int | None = None,
) -> ProfileResult:
    """Profile ``table`` at ``source_url`` and store the result as the node's telemetry.

    Raises ProfileError naming the problem (bad URL, unknown table or column, a failed
    query); nothing is stored then.
    """
    at = at_us if at_us is not None else now_micros()
    engine, url = _engine(source_url)
    try:
        schema, name, tbl = _table(engine, url, table)
        key_col = _column(tbl, key, "key")
        ts_col = _column(tbl, timestamp, "timestamp")
        rows, present, distinct_keys, newest = _measure(engine, url, tbl, key_col, ts_col)
    finally:
        engine.dispose()
    if isinstance(node, str):
        try:
            node = NodeRef.parse(node)
        except NodeIdError as exc:
            raise ProfileError(f"node: {exc}") from None
    ref = node if node is not None else default_node(url, schema, name)
    columns = [
        ColumnProfile(name=c.name, type=str(c.type), nullable=bool(c.nullable),
                      null_count=rows - n, null_fraction=(rows - n) / rows if rows else None)
        for c, n in zip(tbl.c, present, strict=True)
    ]
    newest_us = _micros(newest)
    result = ProfileResult(
        node=str(ref), source=_shown(url), table=f"{schema}.{name}", profiled_at=iso(at) or "",
        row_count=rows, columns=columns, key=key_col, distinct_keys=distinct_keys,
        duplicate_fraction=1 - distinct_keys / rows if key_col and rows and
        distinct_keys is not None else None,
        timestamp=ts_col, newest=iso(newest_us),
        freshness_lag_s=max(0.0, (at - newest_us) / 1e6) if newest_us is not None else None,
    )
    _store(store, ref, result, at)
    return result


def _store(store: Store, ref: NodeRef, result: ProfileResult, at: int) -> None:
    fields = [{"name": c.name, "type": c.type, "nullable": c.nullable} for c in result.columns]
    metrics: dict[str, dict[str, int]] = {c.name: {"nullCount": c.null_count}
                                          for c in result.columns}
    if result.key is not None and result.distinct_keys is not None:
        metrics[result.key]["distinctCount"] = result.distinct_keys
    batch = MetricBatch()

    def point(name: str, value: float, attrs: dict[str, Any]) -> None:
        h = attr_hash(attrs)
        s = MetricSeriesBatch(ref, name, "profile", "s" if name == "data.freshness.lag" else "1",
                              attrs, h, True, [at], [float(value)])
        batch.series[(ref, name, h)] = s
        batch.size += 1

    point("data.row_count", result.row_count, {})
    for c in result.columns:
        if c.null_fraction is not None:
            point("data.null_fraction", c.null_fraction, {"column": c.name})
    if result.duplicate_fraction is not None and result.key is not None:
        point("data.duplicate_fraction", result.duplicate_fraction, {"column": result.key})
    if result.freshness_lag_s is not None:
        point("data.freshness.lag", result.freshness_lag_s, {})
    with store.write() as conn:
        ids = resolve_nodes(conn, store, {ref: at})
        conn.execute(insert(DatasetVersion).values(
            node_id=ids[ref], run_id=None, role="profile", observed_at=at,
            schema_hash=schema_hash(fields), schema_fields=fields,
            row_count=float(result.row_count), byte_count=None, column_metrics=metrics,
            assertions=None,
        ))
        batch.write(conn, store)
    batch.after_commit(store)


__all__ = ["ColumnProfile", "ProfileError", "ProfileResult", "default_node", "profile_table"]
