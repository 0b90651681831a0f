"""OpenLineage ingestion: decoded events -> nodes, edges, runs, dataset versions.

Events are written in batches (one transaction, a few executemany statements per table),
which is what makes file ingestion fast; the HTTP route uses the same path with a batch of
one. The same event twice is stored once (keyed by a hash of its canonical JSON).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, bindparam, select

from tools.ingest.deadletters import add_dead_letter
from tools.ingest.nul import refuse_nul
from tools.ingest.openlineage_parse import TERMINAL, ParsedEvent, parse_event
from tools.ingest.result import IngestResult, InputError, Rejection
from tools.nodes import NodeRef
from tools.store.db import Store
from tools.store.models import (
    ColumnLineage,
    DatasetVersion,
    Edge,
    LineageEvent,
    Node,
    Run,
    RunStateChange,
    now_micros,
)
from tools.store.writes import (
    cached,
    chunks,
    dialect_insert,
    existing_values,
    resolve_nodes,
    upsert_span,
    widen,
)

SOURCE = "openlineage"
BATCH = 1000
# Facets that describe one run's data, not the dataset: they live on dataset versions and
# raw events, and would make every run rewrite the node.
PER_RUN_FACETS = frozenset({"dataQualityMetrics", "dataQualityAssertions", "outputStatistics"})


@dataclass(slots=True)
class RawItem:
    """One decoded JSON value (or the reason it could not be decoded) with its bytes."""

    value: Any
    raw: bytes
    error: str | None = None


def decode_json_items(data: bytes) -> list[RawItem]:
    """A JSON object, a JSON array of objects, or JSON lines -> items.

    A broken line in JSON lines spoils only itself; a broken whole document is one
    rejected item.
    """
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        lines = [ln for ln in data.splitlines() if ln.strip()]
        if len(lines) > 1 and lines[0].lstrip().startswith(b"{"):
            return [_decode_line(ln) for ln in lines]
        return [RawItem(None, data, f"invalid JSON: {exc}")]
    if isinstance(value, list):
        return [RawItem(v, orjson.dumps(v)) for v in value]
    return [RawItem(value, data)]


def _decode_line(line: bytes) -> RawItem:
    try:
        return RawItem(orjson.loads(line), line)
    except orjson.JSONDecodeError as exc:
        return RawItem(None, line, f"invalid JSON line: {exc}")


def ingest_openlineage(
    store: Store,
    data: bytes,
    *,
    origin: str | None = None,
    dead_letter: bool = True,
    now_us: int | None = None,
) -> IngestResult:
    """Ingest the OpenLineage events in one body or file (object, array or JSON lines)."""
    return ingest_items(
        store, decode_json_items(data), origin=origin, dead_letter=dead_letter, now_us=now_us
    )


def ingest_items(
    store: Store,
    items: Iterable[RawItem],
    *,
    origin: str | None = None,
    dead_letter: bool = True,
    now_us: int | None = None,
) -> IngestResult:
    now = now_us if now_us is not None else now_micros()
    result = IngestResult()
    rejected: list[Rejected] = []
    for batch in _batched(items, BATCH):
        parsed, bad = parse_items(batch, now)
        rejected.extend(bad)
        if parsed:
            with store.write() as conn:
                accepted, dups = write_events(conn, store, parsed, now)
            result.accepted += accepted
            result.duplicates += dups
    result.rejected.extend(keep_rejected(store, rejected, origin=origin, dead_letter=dead_letter))
    return result


@dataclass(slots=True)
class Rejected:
    item: RawItem
    reason: str
    field: str | None = None


def parse_items(items: Iterable[RawItem], now_us: int) -> tuple[list[ParsedEvent], list[Rejected]]:
    parsed: list[ParsedEvent] = []
    rejected: list[Rejected] = []
    for item in items:
        if item.error is not None:
            rejected.append(Rejected(item, item.error))
            continue
        try:
            refuse_nul(item.value, item.raw)
            parsed.append(parse_event(item.value, now_us))
        except InputError as exc:
            rejected.append(Rejected(item, str(exc), exc.field))
    return parsed, rejected


def keep_rejected(
    store: Store, rejected: list[Rejected], *, origin: str | None, dead_letter: bool = True
) -> list[Rejection]:
    """Dead-letter rejected items (in their own transaction) and describe them."""
    if not rejected:
        return []
    if not dead_letter:
        return [Rejection(r.reason, origin, None, r.field) for r in rejected]
    out = []
    with store.write() as conn:
        for r in rejected:
            dl_id = add_dead_letter(
                conn,
                source=SOURCE,
                reason=r.reason,
                payload=r.item.raw,
                origin=origin,
                content_type="application/json",
            )
            out.append(Rejection(r.reason, origin, dl_id, r.field))
    return out


def _batched(items: Iterable[RawItem], size: int) -> Iterator[list[RawItem]]:
    batch: list[RawItem] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def write_events(
    conn: Connection, store: Store, events: list[ParsedEvent], received_at: int
) -> tuple[int, int]:
    """Write parsed events in one transaction; returns (accepted, duplicates)."""
    new = write_events_detail(conn, store, events, received_at)
    return len(new), len(events) - len(new)


def write_events_detail(
    conn: Connection, store: Store, events: list[ParsedEvent], received_at: int
) -> set[str]:
    """Write parsed events in one transaction; returns the hashes of the new ones."""
    unique: dict[str, ParsedEvent] = {}
    for ev in events:
        unique.setdefault(ev.event_hash, ev)
    seen: dict[NodeRef, int] = {}
    for ev in unique.values():
        if ev.job is not None:
            widen(seen, ev.job, ev.event_time)
        for ds in ev.datasets:
            widen(seen, ds.ref, ev.event_time)
            for _col, src, _scol, _kind in ds.column_lineage:
                widen(seen, src, ev.event_time)
    ids = resolve_nodes(conn, store, seen)

    # The raw event goes in first: the unique hash decides which events are new, in the
    # same statement that stores them.
    table = LineageEvent.__table__
    stmt = cached(
        conn,
        ("lineage_events_new",),
        lambda: (
            dialect_insert(conn, table)  # type: ignore[arg-type]
            .on_conflict_do_nothing()
            .returning(table.c.event_hash)
        ),
    )
    inserted = (
        conn.execute(
            stmt,
            [
                {
                    "event_hash": ev.event_hash,
                    "kind": ev.kind,
                    "event_type": ev.event_type,
                    "event_time": ev.event_time,
                    "run_uuid": ev.run_uuid,
                    "job_id": ids[ev.job] if ev.job is not None else None,
                    "received_at": received_at,
                    "payload": ev.payload.decode(),
                }
                for ev in unique.values()
            ],
        )
        .scalars()
        .all()
    )
    new_hashes = set(inserted)
    new = sorted((unique[h] for h in new_hashes), key=lambda e: e.event_time)
    if not new:
        return new_hashes

    _write_node_facets(conn, store, new, ids)
    _write_edges(conn, new, ids)
    run_ids = _write_runs(conn, new, ids)

    states = [
        {"run_id": run_ids[ev.run_uuid], "state": ev.event_type, "at": ev.event_time}
        for ev in new
        if ev.run_uuid is not None and ev.event_type is not None
    ]
    if states:
        conn.execute(_insert(conn, RunStateChange.__table__), states)
    versions = [
        {
            "node_id": ids[ds.ref],
            "run_id": run_ids.get(ev.run_uuid) if ev.run_uuid else None,
            "role": ds.role,
            "observed_at": ev.event_time,
            "schema_hash": schema_hash(ds.schema_fields),
            "schema_fields": ds.schema_fields,
            "row_count": ds.row_count,
            "byte_count": ds.byte_count,
            "column_metrics": ds.column_metrics,
            "assertions": ds.assertions,
        }
        for ev in new
        for ds in ev.datasets
        if ds.has_version
    ]
    if versions:
        conn.execute(_insert(conn, DatasetVersion.__table__), versions)
    col_rows: dict[tuple[int, str, int, str], dict[str, Any]] = {}
    for ev in new:
        for ds in ev.datasets:
            for col, src, scol, kind in ds.column_lineage:
                key = (ids[ds.ref], col, ids[src], scol)
                row = col_rows.get(key)
                if row is None:
                    col_rows[key] = {
                        "dst_node_id": key[0],
                        "dst_column": col,
                        "src_node_id": key[2],
                        "src_column": scol,
                        "transformation": kind,
                        "first_seen": ev.event_time,
                        "last_seen": ev.event_time,
                    }
                else:
                    row["last_seen"] = ev.event_time
    upsert_span(
        conn,
        ColumnLineage.__table__,  # type: ignore[arg-type]
        list(col_rows.values()),
        ("dst_node_id", "dst_column", "src_node_id", "src_column"),
    )
    return new_hashes


def _insert(conn: Connection, table: Any) -> Any:
    return cached(conn, ("insert", table.name), table.insert)


def schema_hash(fields: list[Any] | None) -> str | None:
    if fields is None:
        return None
    shape = [(f.get("name"), f.get("type")) for f in fields if isinstance(f, dict)]
    return hashlib.sha256(orjson.dumps(shape)).hexdigest()


def _write_edges(conn: Connection, events: list[ParsedEvent], ids: dict[NodeRef, int]) -> None:
    spans: dict[tuple[int, int], list[int]] = {}
    for ev in events:
        if ev.job is None:
            continue
        job_id = ids[ev.job]
        for ds in ev.datasets:
            pair = (ids[ds.ref], job_id) if ds.role == "input" else (job_id, ids[ds.ref])
            span = spans.get(pair)
            if span is None:
                spans[pair] = [ev.event_time, ev.event_time]
            else:
                span[1] = ev.event_time
    upsert_span(
        conn,
        Edge.__table__,  # type: ignore[arg-type]
        [
            {"src_id": s, "dst_id": d, "source": SOURCE, "first_seen": t0, "last_seen": t1}
            for (s, d), (t0, t1) in spans.items()
        ],
        ("src_id", "dst_id"),
    )


def _write_node_facets(
    conn: Connection, store: Store, events: list[ParsedEvent], ids: dict[NodeRef, int]
) -> None:
    """Keep each node's latest facets (ownership, documentation, sql, ...), merged by name."""
    incoming: dict[int, dict[str, Any]] = {}
    for ev in events:
        if ev.job is not None and ev.job_facets:
            incoming.setdefault(ids[ev.job], {}).update(ev.job_facets)
        for ds in ev.datasets:
            if ds.facets:
                stable = {k: v for k, v in ds.facets.items() if k not in PER_RUN_FACETS}
                if stable:
                    incoming.setdefault(ids[ds.ref], {}).update(stable)
    latest: dict[int, dict[str, Any]] = {}
    for node_id, facets in incoming.items():
        # Most runs resend the same facets; merging them again would change nothing.
        digest = hashlib.sha1(orjson.dumps(facets, option=orjson.OPT_SORT_KEYS)).hexdigest()
        if store.node_facets.get(node_id) != digest:
            latest[node_id] = facets
            store.node_facets[node_id] = digest
    if not latest:
        return
    current = existing_values(conn, Node.id, list(latest), Node.facets)
    table = Node.__table__
    stmt = cached(
        conn,
        ("node_facets",),
        lambda: (
            table.update()  # type: ignore[attr-defined]
            .where(table.c.id == bindparam("i"))
            .values(facets=bindparam("f"))
        ),
    )
    conn.execute(
        stmt,
        [
            {"i": node_id, "f": {**((current.get(node_id) or (None, None))[1] or {}), **facets}}
            for node_id, facets in latest.items()
        ],
    )


def _write_runs(
    conn: Connection, events: list[ParsedEvent], ids: dict[NodeRef, int]
) -> dict[str, int]:
    """Fold events into their runs (creating or updating them); map run uuid -> row id."""
    by_run: dict[str, list[ParsedEvent]] = {}
    for ev in events:
        if ev.run_uuid is not None:
            by_run.setdefault(ev.run_uuid, []).append(ev)
    if not by_run:
        return {}
    table = Run.__table__
    cols = list(table.c)
    existing: dict[str, dict[str, Any]] = {}
    select_stmt = cached(
        conn,
        ("runs_by_uuid",),
        lambda: select(*cols).where(table.c.run_uuid.in_(bindparam("uuids", expanding=True))),
    )
    for part in chunks(list(by_run)):
        for mapping in conn.execute(select_stmt, {"uuids": list(part)}).mappings():
            existing[mapping["run_uuid"]] = dict(mapping)
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for run_uuid, evs in by_run.items():
        found = existing.get(run_uuid)
        job = evs[0].job
        assert job is not None  # run events always name their job
        row = found or {c.name: None for c in cols if c.name != "id"}
        if found is None:
            row.update(
                run_uuid=run_uuid,
                job_id=ids[job],
                state="OTHER",
                last_event_at=evs[0].event_time,
                facets={},
            )
        for ev in evs:
            _fold(row, ev)
        (inserts if found is None else updates).append(row)
    run_ids = {r["run_uuid"]: r["id"] for r in updates}
    if inserts:
        stmt = cached(
            conn,
            ("runs_insert",),
            lambda: table.insert().returning(  # type: ignore[attr-defined]
                table.c.run_uuid, table.c.id
            ),
        )
        run_ids.update({u: i for u, i in conn.execute(stmt, inserts).all()})
    if updates:
        names = [c.name for c in cols if c.name not in ("id", "run_uuid", "job_id")]
        stmt = cached(
            conn,
            ("runs_update",),
            lambda: (
                table.update()  # type: ignore[attr-defined]
                .where(table.c.id == bindparam("_id"))
                .values({n: bindparam(f"_{n}") for n in names})
            ),
        )
        conn.execute(stmt, [{"_id": r["id"], **{f"_{n}": r[n] for n in names}} for r in updates])
    return run_ids


def _fold(row: dict[str, Any], ev: ParsedEvent) -> None:
    """Fold one event into a run's summary; events may arrive in any order."""
    state, etype, t = row["state"], ev.event_type, ev.event_time
    if etype is not None:
        current_terminal = state in TERMINAL
        if (etype in TERMINAL and (not current_terminal or t >= (row["ended_at"] or 0))) or (
            not current_terminal and t >= row["last_event_at"]
        ):
            row["state"] = etype
        if etype in TERMINAL and (row["ended_at"] is None or t >= row["ended_at"]):
            row["ended_at"] = t
    if row["started_at"] is None or t < row["started_at"]:
        row["started_at"] = t
    row["last_event_at"] = max(row["last_event_at"], t)
    for key in (
        "nominal_start",
        "nominal_end",
        "parent_run_uuid",
        "parent_job",
        "error_message",
        "stack_trace",
    ):
        value = getattr(ev, key)
        if value is not None:
            row[key] = value
    facets = dict(row["facets"] or {})
    if ev.run_facets:
        facets.setdefault("run", {}).update(ev.run_facets)
    if ev.job_facets:
        facets.setdefault("job", {}).update(ev.job_facets)
    row["facets"] = facets
