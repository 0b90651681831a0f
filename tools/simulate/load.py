"""Simulate straight into a store, through the same ingestion functions as real input."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from tools.ingest.catalog import ingest_catalog
from tools.ingest.openlineage import ingest_openlineage
from tools.ingest.otlp import ingest_otlp
from tools.ingest.result import IngestResult
from tools.simulate.config import SimConfig
from tools.simulate.engine import Simulation
from tools.simulate.output import SimSummary, start_summary, tally
from tools.store.db import Store
from tools.store.models import to_micros


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
            result.merge(ingest_catalog(store, payload.body, origin="simulation", now_us=now_us))
        elif payload.kind == "openlineage":
            result.merge(
                ingest_openlineage(store, payload.body, origin="simulation", now_us=now_us)
            )
        else:
            signal = payload.kind.split(".", 1)[1]
            result.merge(
                ingest_otlp(
                    store,
                    signal,
                    payload.body,  # type: ignore[arg-type]
                    origin="simulation",
                    now_us=now_us,
                )
            )
        if on_payload is not None and payload.time is not None and payload.time != last_hour:
            last_hour = payload.time
            done += 1
            on_payload(done, hours)
    if result.rejected:
        reasons = "; ".join(sorted({r.reason for r in result.rejected})[:3])
        raise SimulationRejectedError(
            f"{len(result.rejected)} simulated items were rejected by ingestion: {reasons}"
        )
    summary.elapsed_s = time.perf_counter() - began
    return summary, result
