"""Simulate straight into a store, through the same ingestion functions as real input."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path

import orjson

from tools.ingest.catalog import ingest_catalog
from tools.ingest.openlineage import ingest_openlineage
from tools.ingest.otlp import Signal, ingest_otlp
from tools.ingest.result import IngestResult
from tools.simulate.config import SimConfig
from tools.simulate.engine import Payload, Simulation
from tools.simulate.output import SimSummary, start_summary, tally
from tools.store.db import Store
from tools.store.models import to_micros

SIGNALS: dict[str, Signal] = {
    "otlp.metrics": "metrics",
    "otlp.logs": "logs",
    "otlp.traces": "traces",
}


class SimulationRejectedError(RuntimeError):
    """The simulator produced input the ingestion refused: a bug in one of the two."""


def load_simulation(
    store: Store,
    config: SimConfig,
    out_dir: Path,
    *,
    on_payload: Callable[[int, int], None] | None = None,
) -> tuple[SimSummary, IngestResult]:
    """Generate the simulation and ingest every payload into ``store`` as it is made.

    ``out_dir`` receives catalog.yaml, truth.json and benign.json. ``on_payload(done,
    total_hours)`` reports progress. Ingestion uses the simulated end as "now", so the
    far-future check is relative to the simulated period.
    """
    began = time.perf_counter()
    sim = Simulation(config)
    summary = start_summary(sim, Path(out_dir))
    now_us = to_micros(config.end)
    result = IngestResult()
    hours = config.days * 24
    last_hour = None
    done = 0
    for payload in sim.payloads():
        tally(summary, payload)
        if payload.kind == "catalog":
            summary.catalog_path.write_bytes(payload.body)
        result.merge(ingest_payload(store, payload, now_us))
        if on_payload is not None and payload.time is not None and payload.time != last_hour:
            last_hour = payload.time
            done += 1
            on_payload(done, hours)
    check_accepted(result)
    summary.elapsed_s = time.perf_counter() - began
    return summary, result


def ingest_payload(store: Store, payload: Payload, now_us: int) -> IngestResult:
    """One simulated payload through the ingestion function real input of its kind uses;
    ``now_us`` is the simulated "now" the far-future check is made against."""
    if payload.kind == "catalog":
        return ingest_catalog(store, payload.body, origin="simulation", now_us=now_us)
    if payload.kind == "openlineage":
        return ingest_openlineage(store, payload.body, origin="simulation", now_us=now_us)
    return ingest_otlp(store, SIGNALS[payload.kind], payload.body, origin="simulation",
                       now_us=now_us)


# The top-level list of each OTLP/JSON export request kind.
_RESOURCES = {"otlp.metrics": "resourceMetrics", "otlp.traces": "resourceSpans",
              "otlp.logs": "resourceLogs"}


def merge_payloads(payloads: Iterable[Payload], hours: int = 24) -> Iterator[Payload]:
    """The same telemetry in fewer, larger bodies: one per kind for every ``hours``
    simulated hours, as a collector batching exports would send it.

    Ingestion commits once per body, so a store (PostgreSQL above all) takes a day of a
    small stack in a handful of transactions instead of one per hour and signal.
    """
    pending: dict[str, list[Payload]] = {}
    seen_hours = 0
    last: datetime | None = None
    for payload in payloads:
        if payload.time is None:
            yield payload  # the catalog
            continue
        if last is not None and payload.time != last:
            seen_hours += 1
            if seen_hours % hours == 0:
                yield from _flush(pending)
        last = payload.time
        pending.setdefault(payload.kind, []).append(payload)
    yield from _flush(pending)


def _flush(pending: dict[str, list[Payload]]) -> Iterator[Payload]:
    for kind, group in pending.items():
        count = sum(p.count for p in group)
        if kind == "openlineage":
            body = b"".join(p.body for p in group)
        else:
            key = _RESOURCES[kind]
            body = orjson.dumps({key: [r for p in group for r in orjson.loads(p.body)[key]]})
        yield Payload(group[0].kind, body, count, group[0].time)
    pending.clear()


def check_accepted(result: IngestResult) -> None:
    """Raise SimulationRejectedError if ingestion refused anything the simulator made."""
    if result.rejected:
        reasons = "; ".join(sorted({r.reason for r in result.rejected})[:3])
        raise SimulationRejectedError(
            f"{len(result.rejected)} simulated items were rejected by ingestion: {reasons}"
        )
