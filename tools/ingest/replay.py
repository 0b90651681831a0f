"""How each kind of dead letter is fed back through its ingestion path."""

from __future__ import annotations

from functools import partial

from tools.ingest.deadletters import Replayer
from tools.ingest.openlineage import ingest_openlineage
from tools.ingest.otlp import Signal, ingest_otlp
from tools.ingest.result import IngestResult, InputError, Rejection
from tools.store.db import Store


def _openlineage(
    store: Store, now_us: int | None, payload: bytes, _content_type: str | None
) -> IngestResult:
    return ingest_openlineage(store, payload, origin="replay", dead_letter=False, now_us=now_us)


def _otlp(
    store: Store, now_us: int | None, signal: Signal, payload: bytes, content_type: str | None
) -> IngestResult:
    try:
        return ingest_otlp(
            store,
            signal,
            payload,
            content_type or "application/json",
            origin="replay",
            dead_letter=False,
            now_us=now_us,
        )
    except InputError as exc:
        return IngestResult(rejected=[Rejection(str(exc), "replay")])


def replayers(store: Store, now_us: int | None = None) -> dict[str, Replayer]:
    """Replay functions per dead-letter source; ``now_us`` is 'now' for time checks."""
    table: dict[str, Replayer] = {"openlineage": partial(_openlineage, store, now_us)}
    signals: tuple[Signal, ...] = ("metrics", "logs", "traces")
    for signal in signals:
        table[f"otlp.{signal}"] = partial(_otlp, store, now_us, signal)
    return table
