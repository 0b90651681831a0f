"""Store-level detection at scale: 10,000 series x 30 days hourly in a SQLite store.

    .venv/bin/python bench/bench_detect_store.py [--series N] [--days D] [--db PATH]
                                                 [--budget 10]

Builds a store of ``--series`` metric series (hourly points over ``--days`` days, written
straight into metric_points) spread over datasets, four series per dataset across the
detectors' metrics (row counts, null fractions, event loss, webhook latency), with a daily
cycle, noise and, in one series in ten, a step change over the last twelve hours. Then times
``detect`` end to end as of the last point, reporting separately the load from the store
and the scoring, and how many of the injected changes were reported. Exits 1 when the end
to end time is over ``--budget`` seconds. ``--db`` keeps the store file between runs (it is
only built when missing).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt

from tools.detect.engine import detect_report
from tools.detect.settings import DetectSettings
from tools.store import open_store

HOUR_US = 3_600_000_000
START_US = 1_740_000_000 * 1_000_000 // HOUR_US * HOUR_US
# (metric, attributes JSON, unit, typical level, relative noise)
METRICS = (
    ("data.row_count", "{}", "1", 50_000.0, 0.04),
    ("data.null_fraction", '{"column": "email"}', "1", 0.2, 0.03),
    ("event.loss_fraction", "{}", "1", 0.05, 0.05),
    ("activation.webhook.latency", '{"quantile": "0.95"}', "ms", 450.0, 0.05),
)


def series_values(n_series: int, days: int, seed: int
                  ) -> Iterator[tuple[int, npt.NDArray[np.float64], bool]]:
    """(series id, hourly values, whether a step change was injected), deterministically."""
    rng = np.random.default_rng(seed)
    points = days * 24
    t = np.arange(points)
    for sid in range(1, n_series + 1):
        _name, _attrs, _unit, level, noise = METRICS[(sid - 1) % len(METRICS)]
        scale = level * rng.lognormal(0, 0.5)
        shape = 1 + rng.uniform(0.1, 0.4) * np.sin(2 * np.pi * (t + rng.uniform(0, 24)) / 24)
        values = scale * shape * (1 + noise * rng.normal(size=points))
        changed = bool(rng.random() < 0.1)
        if changed:
            # The direction each metric's detector reads as a fault (row counts: both).
            values[-12:] *= 0.4 if (sid - 1) % (2 * len(METRICS)) == 0 else 2.0
        yield sid, values, changed


def node_name(sid: int) -> str:
    return f"schema.table_{(sid - 1) // len(METRICS):05d}"


def build_store(path: Path, n_series: int, days: int, seed: int) -> None:
    store = open_store(f"sqlite:///{path}")
    store.dispose()
    points = days * 24
    n_nodes = -(-n_series // len(METRICS))
    con = sqlite3.connect(path)
    con.execute("PRAGMA synchronous=OFF")
    con.executemany(
        "INSERT INTO nodes (id, type, namespace, name, first_seen, last_seen) "
        "VALUES (?, 'dataset', 'bench://warehouse', ?, ?, ?)",
        [(i + 1, node_name(i * len(METRICS) + 1), START_US, START_US) for i in range(n_nodes)],
    )
    series = []
    for sid in range(1, n_series + 1):
        node = (sid - 1) // len(METRICS) + 1
        name, attrs, unit, _level, _noise = METRICS[(sid - 1) % len(METRICS)]
        series.append((sid, node, node, name, unit, "gauge", f"{sid:064x}", attrs))
    con.executemany(
        "INSERT INTO metric_series (id, node_key, node_id, name, unit, kind, attr_hash, "
        "attributes) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", series)
    stamps = [START_US + i * HOUR_US for i in range(points)]
    for sid, values, _changed in series_values(n_series, days, seed):
        con.executemany("INSERT INTO metric_points (series_id, ts, value) VALUES (?, ?, ?)",
                        zip([sid] * points, stamps, values.tolist(), strict=True))
    con.commit()
    con.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--db", type=Path, default=None)
    parser.add_argument("--budget", type=float, default=10.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "bench.db"
        if not path.exists():
            began = time.perf_counter()
            build_store(path, args.series, args.days, args.seed)
            print(f"built {path}: {args.series} series x {args.days * 24} points in "
                  f"{time.perf_counter() - began:.1f}s")
        store = open_store(f"sqlite:///{path}")
        at_us = START_US + (args.days * 24 - 1) * HOUR_US
        report = detect_report(store, at_us, DetectSettings())
        store.dispose()
    reported = {(d.node.name, d.metric) for d in report.detections}
    injected = {(node_name(sid), METRICS[(sid - 1) % len(METRICS)][0])
                for sid, _v, changed in series_values(args.series, args.days, args.seed)
                if changed}
    print(f"{report.series_scored} series scored in {report.score_groups} groups: "
          f"load {report.load_seconds:.2f}s, scoring {report.score_seconds:.2f}s, "
          f"detect end to end {report.total_seconds:.2f}s (budget {args.budget:g}s)")
    print(f"injected step changes {len(injected)}, reported {len(injected & reported)}; "
          f"other detections {len(reported - injected)}")
    return 0 if report.total_seconds <= args.budget else 1


if __name__ == "__main__":
    sys.exit(main())
