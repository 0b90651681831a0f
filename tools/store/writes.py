"""Bulk write helpers shared by every ingestion path (SQLite and PostgreSQL alike)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, Table, bindparam, case, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

from tools.nodes import NodeRef
from tools.store.db import Store
from tools.store.models import Node

CHUNK = 500


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def dialect_insert(conn: Connection, table: Table) -> Any:
    """An INSERT with ``on_conflict_do_*`` for the connection's dialect."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


# Building a statement costs more than executing a cached compiled one: on the single-event
# HTTP path construction dominated, so statements are built once per dialect and reused.
_STATEMENTS: dict[tuple[Any, ...], Any] = {}


def cached(conn: Connection, key: tuple[Any, ...], build: Callable[[], Any]) -> Any:
    full = (conn.dialect.name, *key)
    stmt = _STATEMENTS.get(full)
    if stmt is None:
        stmt = _STATEMENTS[full] = build()
    return stmt


def insert_ignore(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert rows, silently skipping those that hit a unique constraint."""
    if rows:
        stmt = cached(
            conn,
            ("ignore", table.name),
            lambda: dialect_insert(conn, table).on_conflict_do_nothing(),
        )
        conn.execute(stmt, rows)


def upsert_span(
    conn: Connection, table: Table, rows: list[dict[str, Any]], keys: Sequence[str]
) -> None:
    """Insert rows keyed by ``keys``; on conflict widen [first_seen, last_seen]."""
    if not rows:
        return

    def build() -> Any:
        stmt: Insert = dialect_insert(conn, table)
        excluded = stmt.excluded  # type: ignore[attr-defined]
        return stmt.on_conflict_do_update(  # type: ignore[attr-defined]
            index_elements=list(keys),
            set_={
                "first_seen": case(
                    (excluded.first_seen < table.c.first_seen, excluded.first_seen),
                    else_=table.c.first_seen,
                ),
                "last_seen": case(
                    (excluded.last_seen > table.c.last_seen, excluded.last_seen),
                    else_=table.c.last_seen,
                ),
            },
        )

    conn.execute(cached(conn, ("span", table.name, *keys), build), rows)


def resolve_nodes(conn: Connection, store: Store, seen: dict[NodeRef, int]) -> dict[NodeRef, int]:
    """Ids for the given nodes, creating the missing ones; ``seen`` maps each to a time.

    Existing nodes get ``last_seen`` moved forward; new ones start with first = last = time.
    """
    table = Node.__table__
    ids: dict[NodeRef, int] = {}
    missing: list[NodeRef] = []
    for ref in seen:
        node_id = store.node_ids.get(ref.key)
        if node_id is None:
            missing.append(ref)
        else:
            ids[ref] = node_id
    if missing:
        insert_ignore(
            conn,
            table,  # type: ignore[arg-type]
            [
                {
                    "type": r.type,
                    "namespace": r.namespace,
                    "name": r.name,
                    "first_seen": seen[r],
                    "last_seen": seen[r],
                }
                for r in missing
            ],
        )
        for part in chunks(missing):
            rows = conn.execute(
                select(Node.id, Node.type, Node.namespace, Node.name).where(
                    tuple_(Node.type, Node.namespace, Node.name).in_([r.key for r in part])
                )
            )
            for node_id, typ, ns, name in rows:
                store.node_ids[(typ, ns, name)] = node_id
                ids[NodeRef(typ, ns, name)] = node_id
    # last_seen only moves forward; the cache skips the write when it would not.
    touch = []
    for ref, t in seen.items():
        node_id = ids[ref]
        if ref not in missing and t > store.node_seen.get(node_id, -1):
            touch.append({"i": node_id, "t": t})
        if t > store.node_seen.get(node_id, -1):
            store.node_seen[node_id] = t
    if touch:
        stmt = cached(
            conn,
            ("touch_node",),
            lambda: (
                table.update()  # type: ignore[attr-defined]
                .where(table.c.id == bindparam("i"), table.c.last_seen < bindparam("t"))
                .values(last_seen=bindparam("t"))
            ),
        )
        conn.execute(stmt, touch)
    return ids


def widen(seen: dict[NodeRef, int], ref: NodeRef, at: int) -> None:
    prev = seen.get(ref)
    if prev is None or at > prev:
        seen[ref] = at


def existing_values(
    conn: Connection, column: Any, values: Iterable[Any], *extra: Any
) -> dict[Any, tuple[Any, ...]]:
    """Map each value of ``column`` present in the table to the row of (column, *extra)."""
    found: dict[Any, tuple[Any, ...]] = {}
    items = list(values)
    for part in chunks(items):
        for row in conn.execute(select(column, *extra).where(column.in_(part))):
            found[row[0]] = tuple(row)
    return found
