"""Where simulated telemetry goes: files on disk, or a flowsleuth server over HTTP.

Files: ``openlineage/events-<day>.jsonl`` (one RunEvent per line), ``otlp/metrics-<day>.json``
(and ``traces-``, ``logs-``; one OTLP/JSON export request per line), ``catalog.yaml``,
``truth.json`` (the injected cases) and ``benign.json`` (harmless changes detectors must
not flag). HTTP: the same bodies to the routes real clients use.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from tools.simulate.config import SimConfig
from tools.simulate.engine import Payload, Simulation

ROUTES = {
    "openlineage": "/api/v1/lineage",
    "otlp.metrics": "/v1/metrics",
    "otlp.traces": "/v1/traces",
    "otlp.logs": "/v1/logs",
}
_FILES = {
    "openlineage": ("openlineage", "events", "jsonl"),
    "otlp.metrics": ("otlp", "metrics", "json"),
    "otlp.traces": ("otlp", "traces", "json"),
    "otlp.logs": ("otlp", "logs", "json"),
}


class SendError(RuntimeError):
    """The server refused a simulated payload; the message names the route and status."""


@dataclass(slots=True)
class SimSummary:
    """What a simulation produced and how long it took.

    ``counts``: events, data points, spans, log records and catalog entries by payload kind;
    ``payloads``: Payloads by kind (one per simulated hour and kind); ``requests``: HTTP
    requests made (send_simulation only). ``peak_rss_mb`` is the process's peak resident
    memory so far (ru_maxrss), not just this call's.
    """

    out_dir: Path
    catalog_path: Path
    truth_path: Path
    benign_path: Path
    nodes: int
    counts: dict[str, int] = field(default_factory=dict)
    payloads: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    truth: list[dict[str, Any]] = field(default_factory=list)
    elapsed_s: float = 0.0
    peak_rss_mb: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "out_dir": str(self.out_dir),
            "catalog": str(self.catalog_path),
            "truth": str(self.truth_path),
            "benign": str(self.benign_path),
            "nodes": self.nodes,
            "counts": self.counts,
            "payloads": self.payloads,
            "requests": self.requests,
            "cases": len(self.truth),
            "elapsed_s": round(self.elapsed_s, 2),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
        }


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def start_summary(sim: Simulation, out_dir: Path) -> SimSummary:
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = SimSummary(out_dir, out_dir / "catalog.yaml", out_dir / "truth.json",
                         out_dir / "benign.json", sim.topology.node_count,
                         truth=sim.truth())
    summary.truth_path.write_text(json.dumps(summary.truth, indent=2) + "\n")
    summary.benign_path.write_text(json.dumps(sim.benign_changes(), indent=2) + "\n")
    return summary


def tally(summary: SimSummary, payload: Payload) -> None:
    summary.counts[payload.kind] = summary.counts.get(payload.kind, 0) + payload.count
    summary.payloads[payload.kind] = summary.payloads.get(payload.kind, 0) + 1


def write_simulation(config: SimConfig, out_dir: Path) -> SimSummary:
    """Simulate ``config`` into files under ``out_dir`` (created; existing files replaced)."""
    began = time.perf_counter()
    sim = Simulation(config)
    summary = start_summary(sim, Path(out_dir))
    handles: dict[tuple[str, str], IO[bytes]] = {}
    try:
        for payload in sim.payloads():
            tally(summary, payload)
            if payload.kind == "catalog":
                summary.catalog_path.write_bytes(payload.body)
                continue
            assert payload.time is not None
            day = payload.time.date().isoformat()
            handle = handles.get((payload.kind, day))
            if handle is None:
                for k in [k for k in handles if k[0] == payload.kind]:
                    handles.pop(k).close()
                folder, stem, ext = _FILES[payload.kind]
                path = summary.out_dir / folder / f"{stem}-{day}.{ext}"
                path.parent.mkdir(parents=True, exist_ok=True)
                handle = handles[(payload.kind, day)] = path.open("wb")
            handle.write(payload.body if payload.kind == "openlineage" else payload.body + b"\n")
    finally:
        for handle in handles.values():
            handle.close()
    summary.elapsed_s = time.perf_counter() - began
    summary.peak_rss_mb = peak_rss_mb()
    return summary


def send_simulation(config: SimConfig, base_url: str, *, client: httpx.Client | None = None,
                    out_dir: Path | None = None, batch: bool = True,
                    token: str | None = None) -> SimSummary:
    """POST the simulated telemetry to a flowsleuth server at ``base_url``.

    OpenLineage goes to ``/api/v1/lineage`` as one JSON array per simulated hour (or, with
    ``batch=False``, one event per request as the OpenLineage client sends); OTLP/JSON to
    ``/v1/metrics``, ``/v1/traces`` and ``/v1/logs``. There is no route for the catalog:
    it is written with ``truth.json`` to ``out_dir`` (a new temporary folder by default)
    and its path returned. ``token`` is the server's ingestion token (sent as a bearer
    token by the client made here). Raises SendError on the first non-2xx answer.
    """
    began = time.perf_counter()
    sim = Simulation(config)
    folder = Path(out_dir) if out_dir is not None else Path(
        tempfile.mkdtemp(prefix="flowsleuth-sim-"))
    summary = start_summary(sim, folder)
    own = client is None
    headers = {"Authorization": f"Bearer {token}"} if token else None
    http = client if client is not None else httpx.Client(timeout=60.0, headers=headers)
    base = base_url.rstrip("/")
    try:
        for payload in sim.payloads():
            tally(summary, payload)
            if payload.kind == "catalog":
                summary.catalog_path.write_bytes(payload.body)
                continue
            for body in _bodies(payload, batch):
                _post(http, base + ROUTES[payload.kind], body)
                summary.requests += 1
    finally:
        if own:
            http.close()
    summary.elapsed_s = time.perf_counter() - began
    summary.peak_rss_mb = peak_rss_mb()
    return summary


def _bodies(payload: Payload, batch: bool) -> list[bytes]:
    if payload.kind != "openlineage":
        return [payload.body]
    lines = [ln for ln in payload.body.split(b"\n") if ln]
    if not batch:
        return lines
    return [b"[" + b",".join(lines) + b"]"]


def _post(http: httpx.Client, url: str, body: bytes) -> None:
    response = http.post(url, content=body, headers={"Content-Type": "application/json"})
    if not response.is_success:
        raise SendError(
            f"POST {url} answered {response.status_code}: {response.text[:300]}"
        )
