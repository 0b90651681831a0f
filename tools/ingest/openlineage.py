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
    chunks,
    existing_values,
    resolve_nodes,
    upsert_span,
    widen,
)

SOURCE = "openlineage"
BATCH = 1000


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
    rejected: list[tuple[RawItem, str, str | None]] = []
    for batch in _batched(items, BATCH):
        parsed: list[ParsedEvent] = []
        for item in batch:
            if item.error is not None:
                rejected.append((item, item.error, None))
                continue
            try:
                parsed.append(parse_event(item.value, now))
            except InputError as exc:
                rejected.append((item, str(exc), exc.field))
        if parsed:
            with store.write() as conn:
                accepted, dups = write_events(conn, store, parsed, now)
            result.accepted += accepted
            result.duplicates += dups
    if rejected:
        with store.write() as conn:
            for item, reason, field in rejected:
                dl_id = (
                    add_dead_letter(
                        conn,
                        source=SOURCE,
                        reason=reason,
                        payload=item.raw,
                        origin=origin,
                        content_type="application/json",
                    )
                    if dead_letter
                    else None
                )
                result.rejected.append(Rejection(reason, origin, dl_id, field))
    return result


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
    fresh: dict[str, ParsedEvent] = {}
    for ev in events:
        fresh.setdefault(ev.event_hash, ev)
    duplicates = len(events) - len(fresh)
    known = existing_values(conn, LineageEvent.event_hash, list(fresh))
    for digest in known:
        del fresh[digest]
    duplicates += len(known)
    new = sorted(fresh.values(), key=lambda e: e.event_time)
    if not new:
        return 0, duplicates

    seen: dict[NodeRef, int] = {}
    for ev in new:
        if ev.job is not None:
            widen(seen, ev.job, ev.event_time)
        for ds in ev.datasets:
            widen(seen, ds.ref, ev.event_time)
            for _col, src, _scol, _kind in ds.column_lineage:
                widen(seen, src, ev.event_time)
    ids = resolve_nodes(conn, store, seen)

    _write_node_facets(conn, new, ids)
    _write_edges(conn, new, ids)
    run_ids = _write_runs(conn, new, ids)

    conn.execute(
        LineageEvent.__table__.insert(),  # type: ignore[attr-defined]
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
            for ev in new
        ],
    )
    states = [
        {"run_id": run_ids[ev.run_uuid], "state": ev.event_type, "at": ev.event_time}
        for ev in new
        if ev.run_uuid is not None and ev.event_type is not None
    ]
    if states:
        conn.execute(RunStateChange.__table__.insert(), states)  # type: ignore[attr-defined]
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
        conn.execute(DatasetVersion.__table__.insert(), versions)  # type: ignore[attr-defined]
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
    return len(new), duplicates


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
    conn: Connection, events: list[ParsedEvent], ids: dict[NodeRef, int]
) -> None:
    """Keep each node's latest facets (ownership, documentation, sql, ...), merged by name."""
    latest: dict[int, dict[str, Any]] = {}
    for ev in events:
        if ev.job is not None and ev.job_facets:
            latest.setdefault(ids[ev.job], {}).update(ev.job_facets)
        for ds in ev.datasets:
            if ds.facets:
                latest.setdefault(ids[ds.ref], {}).update(ds.facets)
    if not latest:
        return
    current = existing_values(conn, Node.id, list(latest), Node.facets)
    table = Node.__table__
    conn.execute(
        table.update().where(table.c.id == bindparam("i")).values(facets=bindparam("f")),  # type: ignore[attr-defined]
        [
            {"i": node_id, "f": {**((current.get(node_id) or (None, None))[1] or {}), **facets}}
            for node_id, facets in latest.items()
        ],
    )


def _write_runs(
    conn: Connection, events: list[ParsedEvent], ids: dict[NodeRef, int]
) -> dict[str, int]:
    by_run: dict[str, list[ParsedEvent]] = {}
    for ev in events:
        if ev.run_uuid is not None:
            by_run.setdefault(ev.run_uuid, []).append(ev)
    if not by_run:
        return {}
    cols = [c for c in Run.__table__.c if c.name != "id"]
    existing: dict[str, dict[str, Any]] = {}
    for part in chunks(list(by_run)):
        for mapping in conn.execute(select(*cols).where(Run.run_uuid.in_(part))).mappings():
            existing[mapping["run_uuid"]] = dict(mapping)
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for run_uuid, evs in by_run.items():
        found = existing.get(run_uuid)
        fresh = found is None
        job = evs[0].job
        assert job is not None  # run events always name their job
        row = found or {c.name: None for c in cols}
        if fresh:
            row.update(
                run_uuid=run_uuid,
                job_id=ids[job],
                state="OTHER",
                last_event_at=evs[0].event_time,
                facets={},
            )
        for ev in evs:
            _fold(row, ev)
        (inserts if fresh else updates).append(row)
    table = Run.__table__
    if inserts:
        conn.execute(table.insert(), inserts)  # type: ignore[attr-defined]
    if updates:
        names = [c.name for c in cols if c.name != "run_uuid"]
        conn.execute(
            table.update()  # type: ignore[attr-defined]
            .where(table.c.run_uuid == bindparam("_uuid"))
            .values({n: bindparam(f"_{n}") for n in names}),
            [{"_uuid": r["run_uuid"], **{f"_{n}": r[n] for n in names}} for r in updates],
        )
    found = existing_values(conn, Run.run_uuid, list(by_run), Run.id)
    return {uuid_: row[1] for uuid_, row in found.items()}


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
