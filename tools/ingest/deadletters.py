"""The dead-letter table: rejected input kept whole, with its reason, for replay."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from tools.ingest.result import IngestResult
from tools.store.db import Store
from tools.store.models import DeadLetter, now_micros
from tools.timeutil import iso

# A rejected body larger than this is kept truncated (its size and reason say so): the
# table must not become the way to fill a disk.
MAX_KEPT_BYTES = 1 << 20


def add_dead_letter(
    conn: Connection,
    *,
    source: str,
    reason: str,
    payload: bytes,
    origin: str | None = None,
    content_type: str | None = None,
) -> int:
    truncated = len(payload) > MAX_KEPT_BYTES
    row = {
        "source": source,
        "origin": _text(origin),
        "received_at": now_micros(),
        "reason": _text(reason),
        "content_type": _text(content_type),
        "payload": payload[:MAX_KEPT_BYTES],
        "payload_size": len(payload),
        "truncated": truncated,
    }
    result = conn.execute(DeadLetter.__table__.insert().returning(DeadLetter.id), row)  # type: ignore[attr-defined]
    return int(result.scalar_one())


def _text(value: str | None) -> str | None:
    # Reasons quote the input they reject; PostgreSQL text cannot hold a NUL, so it is kept
    # escaped (the payload, stored as bytes, keeps the original).
    return None if value is None else value.replace("\x00", "\\u0000")


def record_dead_letter(store: Store, **kwargs: Any) -> int:
    """Keep a rejection in its own transaction (it must survive whatever failed)."""
    with store.write() as conn:
        return add_dead_letter(conn, **kwargs)


@dataclass(slots=True)
class DeadLetterView:
    id: int
    source: str
    origin: str | None
    received_at: str | None
    reason: str
    content_type: str | None
    payload_size: int
    truncated: bool
    replayed_at: str | None
    replay_result: str | None
    preview: str

    def as_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


def list_dead_letters(
    store: Store, *, pending_only: bool = False, limit: int = 100
) -> list[DeadLetterView]:
    stmt = select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit)
    if pending_only:
        stmt = stmt.where(DeadLetter.replayed_at.is_(None))
    with store.read() as conn:
        rows = conn.execute(stmt).all()
    out = []
    for row in rows:
        dl = row._mapping
        out.append(
            DeadLetterView(
                id=dl["id"],
                source=dl["source"],
                origin=dl["origin"],
                received_at=iso(dl["received_at"]),
                reason=dl["reason"],
                content_type=dl["content_type"],
                payload_size=dl["payload_size"],
                truncated=dl["truncated"],
                replayed_at=iso(dl["replayed_at"]),
                replay_result=dl["replay_result"],
                preview=bytes(dl["payload"][:200]).decode("utf-8", "replace"),
            )
        )
    return out


Replayer = Callable[[bytes, str | None], IngestResult]


def replay_dead_letters(store: Store, replayers: dict[str, Replayer]) -> dict[str, int]:
    """Feed every pending dead letter back through its ingestion path.

    Those that are now accepted are marked replayed; those rejected again stay pending
    (the fresh rejection is not stored twice: the replay runs with dead-lettering off).
    """
    with store.read() as conn:
        pending = conn.execute(
            select(
                DeadLetter.id,
                DeadLetter.source,
                DeadLetter.payload,
                DeadLetter.content_type,
                DeadLetter.truncated,
            )
            .where(DeadLetter.replayed_at.is_(None))
            .order_by(DeadLetter.id)
        ).all()
    counts = {"replayed": 0, "still_rejected": 0, "skipped": 0}
    for dl_id, source, payload, content_type, truncated in pending:
        replayer = replayers.get(source)
        if replayer is None or truncated:
            counts["skipped"] += 1
            continue
        result = replayer(bytes(payload), content_type)
        if result.rejected:
            counts["still_rejected"] += 1
            continue
        with store.write() as conn:
            conn.execute(
                DeadLetter.__table__.update()  # type: ignore[attr-defined]
                .where(DeadLetter.id == dl_id)
                .values(
                    replayed_at=now_micros(),
                    replay_result=f"accepted {result.accepted}, duplicates {result.duplicates}",
                )
            )
        counts["replayed"] += 1
    return counts
