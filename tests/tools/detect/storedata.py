"""Small hand-made telemetry for store-level detector tests, sent through real ingestion:
OTLP/JSON gauges, OpenLineage runs (with schema, volume, quality and sql facets) and a
catalog, plus a simulated stack loaded straight into a store."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import yaml

from tools.ingest.catalog import ingest_catalog
from tools.ingest.openlineage import ingest_openlineage
from tools.ingest.otlp import ingest_otlp
from tools.simulate import FaultSpec, SimConfig
from tools.simulate.load import load_simulation
from tools.store import Store
from tools.timeutil import iso

HOUR = 3_600_000_000
DAY = 24 * HOUR
T0 = 1_740_787_200_000_000  # 2025-03-01T00:00:00Z
PRODUCER = "https://github.com/flowsleuth/flowsleuth/tests"
SIM_END = datetime(2025, 3, 10, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Point:
    namespace: str
    name: str
    metric: str
    ts_us: int
    value: float
    attrs: tuple[tuple[str, str], ...] = ()


def _kv(key: str, value: str) -> dict[str, Any]:
    return {"key": key, "value": {"stringValue": value}}


def send_points(store: Store, points: Iterable[Point], now_us: int | None = None) -> None:
    """One OTLP/JSON metrics request with a gauge data point per Point."""
    metrics: dict[str, list[dict[str, Any]]] = {}
    for p in points:
        attrs = [_kv("openlineage.dataset.namespace", p.namespace),
                 _kv("openlineage.dataset.name", p.name)] + [_kv(k, v) for k, v in p.attrs]
        metrics.setdefault(p.metric, []).append(
            {"timeUnixNano": str(p.ts_us * 1000), "asDouble": p.value, "attributes": attrs})
    body = {"resourceMetrics": [{"resource": {"attributes": []}, "scopeMetrics": [{"metrics": [
        {"name": name, "unit": "1", "gauge": {"dataPoints": pts}}
        for name, pts in metrics.items()]}]}]}
    result = ingest_otlp(store, "metrics", orjson.dumps(body), now_us=now_us or T0 + 60 * DAY)
    assert not result.rejected, result.rejected


@dataclass(slots=True)
class Dataset:
    namespace: str
    name: str
    fields: list[tuple[str, str]] = field(default_factory=list)
    rows: int | None = None
    nulls: dict[str, int] = field(default_factory=dict)
    distinct: dict[str, int] = field(default_factory=dict)

    def as_output(self) -> dict[str, Any]:
        facets: dict[str, Any] = {}
        if self.fields:
            facets["schema"] = {"_producer": PRODUCER, "_schemaURL": PRODUCER,
                                "fields": [{"name": n, "type": t} for n, t in self.fields]}
        out: dict[str, Any] = {"namespace": self.namespace, "name": self.name, "facets": facets}
        if self.rows is not None:
            cols: dict[str, dict[str, int]] = {c: {"nullCount": n} for c, n in self.nulls.items()}
            for c, d in self.distinct.items():
                cols.setdefault(c, {"nullCount": 0})["distinctCount"] = d
            facets["dataQualityMetrics"] = {"_producer": PRODUCER, "_schemaURL": PRODUCER,
                                            "rowCount": self.rows, "columnMetrics": cols}
            out["outputFacets"] = {"outputStatistics": {
                "_producer": PRODUCER, "_schemaURL": PRODUCER, "rowCount": self.rows}}
        return out


def run_events(job: tuple[str, str], slot_us: int, start_us: int, end_us: int, state: str,
               outputs: list[Dataset] | None = None, inputs: list[Dataset] | None = None,
               error: str | None = None, sql: str | None = None, attempt: int = 0
               ) -> list[dict[str, Any]]:
    """START and the terminal event of one run, OpenLineage 2-0-2 style."""
    run_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{job}|{slot_us}|{attempt}"))
    nominal = {"_producer": PRODUCER, "_schemaURL": PRODUCER,
               "nominalStartTime": iso(slot_us)}
    job_obj: dict[str, Any] = {"namespace": job[0], "name": job[1]}
    start_job = dict(job_obj)
    if sql is not None:
        start_job["facets"] = {"sql": {"_producer": PRODUCER, "_schemaURL": PRODUCER,
                                       "query": sql}}
    ins = [{"namespace": d.namespace, "name": d.name} for d in inputs or []]
    outs = outputs or []

    def event(etype: str, t: int, run_facets: dict[str, Any], jobj: dict[str, Any],
              out_objs: list[dict[str, Any]]) -> dict[str, Any]:
        return {"eventType": etype, "eventTime": iso(t), "producer": PRODUCER,
                "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
                "run": {"runId": run_id, "facets": run_facets}, "job": jobj,
                "inputs": ins, "outputs": out_objs}

    end_facets: dict[str, Any] = {"nominalTime": nominal}
    if state == "FAIL":
        end_facets["errorMessage"] = {"_producer": PRODUCER, "_schemaURL": PRODUCER,
                                      "message": error or "failed", "programmingLanguage": "SQL"}
    terminal_outputs = [d.as_output() for d in outs] if state == "COMPLETE" else \
        [{"namespace": d.namespace, "name": d.name} for d in outs]
    return [
        event("START", start_us, {"nominalTime": nominal}, start_job,
              [{"namespace": d.namespace, "name": d.name} for d in outs]),
        event(state, end_us, end_facets, job_obj, terminal_outputs),
    ]


def send_events(store: Store, events: list[dict[str, Any]]) -> None:
    body = b"\n".join(orjson.dumps(e) for e in events)
    result = ingest_openlineage(store, body, now_us=T0 + 60 * DAY)
    assert not result.rejected, result.rejected


def send_catalog(store: Store, assets: list[dict[str, Any]]) -> None:
    result = ingest_catalog(store, yaml.safe_dump({"assets": assets}).encode(),
                            now_us=T0 + 60 * DAY)
    assert not result.rejected, result.rejected


def load_sim(store: Store, folder: Path, scenarios: Iterable[str] = (), *, seed: int = 7,
             days: int = 14) -> SimConfig:
    """A size-40 simulated stack ending 2025-03-10, loaded into ``store``."""
    config = SimConfig(end=SIM_END, seed=seed, size=40, days=days,
                       scenarios=[FaultSpec(s) for s in scenarios])
    load_simulation(store, config, folder)
    return config
