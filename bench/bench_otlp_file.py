"""OTLP/JSON metrics file ingestion speed: points per second into a fresh SQLite store.

    .venv/bin/python bench/bench_otlp_file.py [--series 500] [--points 400] [--lines 20]

Writes a JSON-lines file (one ExportMetricsServiceRequest per line, as the collector's
file exporter does) of series x points gauge points into a temporary folder: 50 assets
named on the resource, metrics with a ``column`` attribute on each point. Prints the
points/s of ``ingest_otlp`` on it (decode + parse + write, one process).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from tools.ingest.otlp import ingest_otlp
from tools.store import open_store

T0_NS = 1_767_225_600 * 10**9  # 2026-01-01
METRICS = (
    "data.null_fraction",
    "data.duplicate_fraction",
    "data.row_count",
    "data.freshness.lag",
    "event.loss_fraction",
)


def _kv(key: str, value: str) -> dict[str, Any]:
    return {"key": key, "value": {"stringValue": value}}


def make_file(path: Path, series: int, points: int, lines: int, assets: int = 50) -> int:
    """Write the file; returns how many points it holds."""
    per_asset = max(1, series // assets)
    per_line = max(1, points // lines)
    total = 0
    with path.open("wb") as out:
        for line in range(lines):
            resources = []
            for a in range(assets):
                metrics = []
                for s in range(per_asset):
                    name = METRICS[s % len(METRICS)]
                    column = f"col_{s // len(METRICS)}"
                    dps = []
                    for k in range(per_line):
                        i = line * per_line + k
                        dps.append(
                            {
                                "attributes": [_kv("column", column)],
                                "timeUnixNano": str(T0_NS + i * 60 * 10**9),
                                "asDouble": ((a * 31 + s * 7 + i) % 1000) / 1000.0,
                            }
                        )
                    total += len(dps)
                    metrics.append({"name": name, "unit": "1", "gauge": {"dataPoints": dps}})
                resources.append(
                    {
                        "resource": {
                            "attributes": [
                                _kv("service.name", "bench"),
                                _kv("openlineage.dataset.namespace", "snowflake://acme"),
                                _kv("openlineage.dataset.name", f"analytics.model_{a}"),
                            ]
                        },
                        "scopeMetrics": [{"scope": {"name": "bench"}, "metrics": metrics}],
                    }
                )
            out.write(orjson.dumps({"resourceMetrics": resources}) + b"\n")
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", type=int, default=500)
    ap.add_argument("--points", type=int, default=400, help="points per series")
    ap.add_argument("--lines", type=int, default=20, help="requests (JSON lines) in the file")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "metrics.jsonl"
        total = make_file(path, args.series, args.points, args.lines)
        data = path.read_bytes()
        store = open_store(f"sqlite:///{Path(tmp) / 'bench.db'}")
        start = time.perf_counter()
        result = ingest_otlp(store, "metrics", data, origin=str(path))
        elapsed = time.perf_counter() - start
        store.dispose()
    print(
        f"{total} points in {len(data) / 1e6:.1f} MB: accepted {result.accepted}, "
        f"duplicates {result.duplicates}, rejected {len(result.rejected)}"
    )
    print(f"{elapsed:.2f} s -> {result.accepted / elapsed:,.0f} points/s")


if __name__ == "__main__":
    main()
