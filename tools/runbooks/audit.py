"""The audit log: every proposal, decision, action and result, in a sha256 hash chain.

Each row stores the previous row's hash and its own: ``sha256(prev_hash + "\\n" +
canonical JSON of its content)``. Editing, deleting or reordering any row breaks the
chain at that row, and :func:`verify_chain` names it.

Appends are serialised so the chain never forks: PostgreSQL takes a transaction-level
advisory lock; SQLite takes the database write lock up front (``BEGIN IMMEDIATE``) on
top of the store's in-process write lock. Appends run inside the caller's transaction,
so an audited state change and its audit row commit (or vanish) together.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Connection, insert, select, text

from tools.store.db import Store
from tools.store.models import now_micros
from tools.store.models_runbooks import AuditRow
from tools.timeutil import iso

GENESIS = "0" * 64
# Any constant works; this one spells "flowslth" so it is recognisable in pg_locks.
AUDIT_LOCK_KEY = 0x666C6F77736C7468


class AuditEntry(BaseModel):
    seq: int
    at: str
    actor: str
    event: str
    proposal_id: int | None
    incident_id: int | None
    rationale: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str


class VerifyResult(BaseModel):
    ok: bool
    rows: int
    head: str
    first_broken_seq: int | None = None
    first_broken_id: int | None = None
    reason: str | None = None


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def row_hash(prev_hash: str, content: dict[str, Any]) -> str:
    return hashlib.sha256(f"{prev_hash}\n{canonical(content)}".encode()).hexdigest()


def _content(
    seq: int,
    at: int,
    actor: str,
    event: str,
    proposal_id: int | None,
    incident_id: int | None,
    rationale: str,
    payload: str,
) -> dict[str, Any]:
    return {
        "seq": seq,
        "at": at,
        "actor": actor,
        "event": event,
        "proposal_id": proposal_id,
        "incident_id": incident_id,
        "rationale": rationale,
        "payload": payload,
    }


def lock_chain(conn: Connection) -> None:
    """Serialise appenders for the rest of ``conn``'s transaction."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": AUDIT_LOCK_KEY})
        return
    if conn.dialect.name == "sqlite":
        dbapi = conn.connection.dbapi_connection
        # pysqlite opens transactions lazily at the first write; a transaction already
        # open holds the write lock. Otherwise take it now, before reading the head.
        if dbapi is not None and not getattr(dbapi, "in_transaction", True):
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def append(
    conn: Connection,
    *,
    actor: str,
    event: str,
    rationale: str = "",
    payload: dict[str, Any] | None = None,
    proposal_id: int | None = None,
    incident_id: int | None = None,
    at_us: int | None = None,
) -> AuditEntry:
    """Add one row to the chain inside the caller's transaction."""
    lock_chain(conn)
    head = conn.execute(
        select(AuditRow.seq, AuditRow.hash).order_by(AuditRow.seq.desc()).limit(1)
    ).first()
    seq = 1 if head is None else int(head.seq) + 1
    prev = GENESIS if head is None else str(head.hash)
    at = now_micros() if at_us is None else at_us
    body = canonical(payload or {})
    content = _content(seq, at, actor, event, proposal_id, incident_id, rationale, body)
    digest = row_hash(prev, content)
    conn.execute(insert(AuditRow).values(**content, prev_hash=prev, hash=digest))
    return AuditEntry(
        seq=seq,
        at=iso(at) or "",
        actor=actor,
        event=event,
        proposal_id=proposal_id,
        incident_id=incident_id,
        rationale=rationale,
        payload=payload or {},
        prev_hash=prev,
        hash=digest,
    )


def record(store: Store, **fields: Any) -> AuditEntry:
    """Append in a transaction of its own (for events with no state change)."""
    with store.write() as conn:
        return append(conn, **fields)


def verify_chain(store: Store, *, batch: int = 1_000) -> VerifyResult:
    """Walk the whole chain; report the first row whose link or content does not hold."""
    prev, expected_seq, rows = GENESIS, 1, 0
    cols = (
        AuditRow.id,
        AuditRow.seq,
        AuditRow.at,
        AuditRow.actor,
        AuditRow.event,
        AuditRow.proposal_id,
        AuditRow.incident_id,
        AuditRow.rationale,
        AuditRow.payload,
        AuditRow.prev_hash,
        AuditRow.hash,
    )
    with store.read() as conn:
        last_seq = 0
        while True:
            chunk = conn.execute(
                select(*cols).where(AuditRow.seq > last_seq).order_by(AuditRow.seq).limit(batch)
            ).all()
            if not chunk:
                break
            for r in chunk:
                rows += 1
                broken = _broken(r, prev, expected_seq)
                if broken:
                    return VerifyResult(
                        ok=False,
                        rows=rows,
                        head=prev,
                        first_broken_seq=int(r.seq),
                        first_broken_id=int(r.id),
                        reason=broken,
                    )
                prev, expected_seq, last_seq = str(r.hash), expected_seq + 1, int(r.seq)
    return VerifyResult(ok=True, rows=rows, head=prev)


def _broken(r: Any, prev: str, expected_seq: int) -> str | None:
    if r.seq != expected_seq:
        return f"sequence jumps from {expected_seq - 1} to {r.seq}: rows are missing"
    if r.prev_hash != prev:
        return f"row {r.seq} does not link to the row before it"
    content = _content(
        r.seq, r.at, r.actor, r.event, r.proposal_id, r.incident_id, r.rationale, r.payload
    )
    if row_hash(prev, content) != r.hash:
        return f"row {r.seq} was changed after it was written (hash mismatch)"
    return None


def list_audit(
    store: Store, *, proposal_id: int | None = None, limit: int = 200
) -> list[AuditEntry]:
    """Newest first."""
    stmt = select(AuditRow).order_by(AuditRow.seq.desc()).limit(limit)
    if proposal_id is not None:
        stmt = stmt.where(AuditRow.proposal_id == proposal_id)
    with store.read() as conn:
        rows = conn.execute(stmt).mappings().all()
    return [
        AuditEntry(
            seq=r["seq"],
            at=iso(r["at"]) or "",
            actor=r["actor"],
            event=r["event"],
            proposal_id=r["proposal_id"],
            incident_id=r["incident_id"],
            rationale=r["rationale"],
            payload=json.loads(r["payload"]),
            prev_hash=r["prev_hash"],
            hash=r["hash"],
        )
        for r in rows
    ]
