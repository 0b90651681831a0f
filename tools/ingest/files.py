"""Ingestion from files and folders: which files to read and which path ingests them."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from tools.ingest.openlineage import ingest_openlineage
from tools.ingest.otlp import Signal, ingest_otlp
from tools.ingest.result import IngestResult, InputError, Rejection
from tools.store.db import Store

JSON_SUFFIXES = (".json", ".jsonl", ".ndjson")

Progress = Callable[[int], None]


def expand_paths(paths: Iterable[Path], suffixes: tuple[str, ...] = JSON_SUFFIXES) -> list[Path]:
    """Files named directly, plus matching files found recursively in folders (sorted)."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in suffixes))
        elif path.is_file():
            out.append(path)
        else:
            raise InputError(f"no such file or folder: {path}")
    return out


def total_bytes(files: Iterable[Path]) -> int:
    return sum(f.stat().st_size for f in files)


def ingest_openlineage_files(
    store: Store,
    files: Iterable[Path],
    on_progress: Progress | None = None,
    now_us: int | None = None,
) -> IngestResult:
    result = IngestResult()
    for f in files:
        data = f.read_bytes()
        result.merge(ingest_openlineage(store, data, origin=str(f), now_us=now_us))
        if on_progress:
            on_progress(len(data))
    return result


def ingest_otlp_files(
    store: Store,
    files: Iterable[Path],
    signal: Signal | None = None,
    on_progress: Progress | None = None,
    now_us: int | None = None,
) -> IngestResult:
    """OTLP/JSON files; the signal comes from the content (resourceMetrics/Logs/Spans)."""
    result = IngestResult()
    for f in files:
        data = f.read_bytes()
        sig = signal or sniff_otlp_signal(data)
        if sig is None:
            reason = "not OTLP/JSON: no resourceMetrics, resourceLogs or resourceSpans"
            result.rejected.append(Rejection(reason, str(f)))
        else:
            try:
                result.merge(
                    ingest_otlp(store, sig, data, "application/json", origin=str(f), now_us=now_us)
                )
            except InputError as exc:
                result.rejected.append(Rejection(str(exc), str(f)))
        if on_progress:
            on_progress(len(data))
    return result


_SIGNAL_KEYS: tuple[tuple[bytes, Signal], ...] = (
    (b"resourceMetrics", "metrics"),
    (b"resource_metrics", "metrics"),
    (b"resourceLogs", "logs"),
    (b"resource_logs", "logs"),
    (b"resourceSpans", "traces"),
    (b"resource_spans", "traces"),
)


def sniff_otlp_signal(data: bytes) -> Signal | None:
    head = data[:4096]
    for key, signal in _SIGNAL_KEYS:
        if key in head:
            return signal
    return None
