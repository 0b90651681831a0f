"""Writing OTLP rows: counted insert-or-ignore, and the row batch logs and spans share."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, Self

from sqlalchemy import Connection, Table

from tools.ingest.otlp_rejects import Rejects
from tools.nodes import NodeRef
from tools.store.db import Store
from tools.store.writes import dialect_insert, resolve_nodes, widen

# Rows per executemany: large enough that statement overhead vanishes, small enough to
# keep PostgreSQL's multi-row VALUES statements reasonable.
INSERT_CHUNK = 20_000


def insert_counting(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> int:
    """Insert rows, skipping those that hit a unique key; returns how many were inserted.

    SQLite's executemany reports the rows it changed (conflicts skipped by DO NOTHING do
    not count). PostgreSQL's batched insert reports no row count, so there the inserted
    rows are counted through RETURNING.
    """
    if not rows:
        return 0
    stmt = dialect_insert(conn, table).on_conflict_do_nothing()
    inserted = 0
    sqlite = conn.dialect.name == "sqlite"
    first = next(iter(table.primary_key.columns))
    for start in range(0, len(rows), INSERT_CHUNK):
        part = rows[start : start + INSERT_CHUNK]
        if sqlite:
            inserted += conn.execute(stmt, part).rowcount
        else:
            inserted += len(conn.execute(stmt.returning(first), part).all())
    return inserted


def insert_tuples_counting(
    conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> int:
    """:func:`insert_counting` for rows given as tuples of plain (non-JSON) values.

    On SQLite the Core insert is compiled once and its SQL run with executemany over the
    tuples: SQLAlchemy's per-row parameter processing would cost more than SQLite's own
    insert. Only for columns whose types need no bind processing (ints, floats, text).
    """
    if not rows:
        return 0
    if conn.dialect.name != "sqlite":
        return insert_counting(conn, table, [dict(zip(columns, r, strict=True)) for r in rows])
    compiled = (
        dialect_insert(conn, table)
        .on_conflict_do_nothing()
        .compile(dialect=conn.dialect, column_keys=list(columns))
    )
    order = list(compiled.positiontup or ())
    if order != list(columns):
        raise ValueError(f"columns {list(columns)} must be in table order {order}")
    sql = str(compiled)
    inserted = 0
    for start in range(0, len(rows), INSERT_CHUNK):
        inserted += conn.exec_driver_sql(sql, rows[start : start + INSERT_CHUNK]).rowcount
    return inserted


class Batch(Protocol):
    """What a signal's parser produces: items to write, and the items it rejected."""

    rejects: Rejects

    @property
    def size(self) -> int: ...

    def merge(self, other: Self) -> None: ...

    def write(self, conn: Connection, store: Store) -> tuple[int, int]:
        """Store the items in ``conn``'s transaction; returns (accepted, duplicates)."""
        ...

    def after_commit(self, store: Store) -> None:
        """Cache what the committed transaction created."""
        ...


@dataclass(slots=True)
class RowBatch:
    """Log records or spans ready to insert, each with the asset it belongs to.

    ``unique`` names the columns of the table's unique key: rows repeating a key within
    the batch are duplicates before the database sees them.
    """

    table: Table
    unique: tuple[str, ...]
    time_column: str  # the row time that moves its asset's last_seen
    rejects: Rejects
    rows: list[tuple[NodeRef | None, dict[str, Any]]] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.rows)

    def merge(self, other: RowBatch) -> None:
        self.rows.extend(other.rows)
        self.rejects.extend(other.rejects)

    def write(self, conn: Connection, store: Store) -> tuple[int, int]:
        """Insert the rows; returns (accepted, duplicates)."""
        seen: dict[NodeRef, int] = {}
        for ref, row in self.rows:
            if ref is not None:
                widen(seen, ref, row[self.time_column])
        node_ids = resolve_nodes(conn, store, seen) if seen else {}
        fresh: dict[tuple[Any, ...], dict[str, Any]] = {}
        for ref, row in self.rows:
            key = tuple(row[c] for c in self.unique)
            if key not in fresh:
                row["node_id"] = node_ids[ref] if ref is not None else None
                fresh[key] = row
        inserted = insert_counting(conn, self.table, list(fresh.values()))
        return inserted, len(self.rows) - inserted

    def after_commit(self, store: Store) -> None:
        pass  # node ids are cached by resolve_nodes; rows leave nothing to cache
