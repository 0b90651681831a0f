"""Score the detector against a rolling z-score baseline on the NAB subset.

    .venv/bin/python evals/nab_score.py [--data DIR] [--json]

Every file runs with the same DetectorConfig (defaults; nothing is tuned per file) and the
baseline runs on the same regularised grid in the same pass.

Window scoring: a labelled window is found (TP) when at least one detection falls inside it
(bounds inclusive); each detection outside every window is a false positive (FP).
precision = TP / (TP + FP), recall = TP / windows, F1 their harmonic mean; totals add the
counts over all files before dividing. Detections are the detector's alert times (the
causal moment an alert fires, not the retrospective onset).

The baseline: z = (x - mean) / std over the preceding two days of points (ddof 0, at least
half of them present), a detection at every point with |z| >= 3. Because counting every
flagged point punishes the baseline for its lack of alert suppression, a second variant
counts only the first point of each run of consecutive flagged points; both are reported.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tools.detect import DetectorConfig, find_anomalies, score_series
from tools.detect.csvseries import read_series_csv
from tools.timeutil import parse_timestamp

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "nab"
DAY_S = 86_400
Z_THRESHOLD = 3.0
DETECTORS = ("detector", "zscore_points", "zscore_runs")


@dataclass(slots=True)
class Tally:
    files: int = 0
    windows: int = 0
    found: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DETECTORS, 0))
    false_pos: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DETECTORS, 0))

    def add(self, other: Tally) -> None:
        self.files += other.files
        self.windows += other.windows
        for name in DETECTORS:
            self.found[name] += other.found[name]
            self.false_pos[name] += other.false_pos[name]

    def prf(self, name: str) -> tuple[float, float, float]:
        tp, fp = self.found[name], self.false_pos[name]
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / self.windows if self.windows else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return precision, recall, f1


def zscore_flags(values: npt.NDArray[np.float64], step_s: int) -> npt.NDArray[np.bool_]:
    """|z| >= 3 against the mean and std of the preceding two days of points."""
    window = max(2, -(-2 * DAY_S // step_s))
    finite = ~np.isnan(values)
    x = np.where(finite, values, 0.0)
    csum = np.concatenate([[0.0], np.cumsum(x)])
    csq = np.concatenate([[0.0], np.cumsum(x * x)])
    cnt = np.concatenate([[0], np.cumsum(finite)])
    t = np.arange(values.size)
    lo = np.maximum(t - window, 0)
    n = cnt[t] - cnt[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (csum[t] - csum[lo]) / n
        var = np.maximum((csq[t] - csq[lo]) / n - mean * mean, 0.0)
        dev = np.abs(values - mean)
        std = np.sqrt(var)
        # A flat window makes any change infinitely surprising, as a z-score would say.
        z = np.where(
            std > 1e-12 * np.maximum(np.abs(mean), 1.0),
            dev / std,
            np.where(dev > 1e-12 * np.maximum(np.abs(mean), 1.0), np.inf, 0.0),
        )
    return np.asarray(finite & (n >= window // 2) & (t >= window) & (z >= Z_THRESHOLD))


def run_starts(flags: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    return np.asarray(flags & ~np.concatenate([[False], flags[:-1]]))


def score_windows(times: npt.NDArray[np.int64], windows: list[tuple[int, int]]) -> tuple[int, int]:
    """(windows holding a detection, detections outside every window)."""
    inside = np.zeros(times.size, dtype=bool)
    found = 0
    for lo, hi in windows:
        hit = (times >= lo) & (times <= hi)
        found += bool(hit.any())
        inside |= hit
    return found, int((~inside).sum())


def evaluate_file(
    path: Path, windows: list[tuple[int, int]], config: DetectorConfig
) -> tuple[Tally, dict[str, Any]]:
    stamps, values, _ = read_series_csv(path)
    result = score_series(stamps, values, config)
    grid_times = result.timestamps
    detections = {
        "detector": np.array([a.alert_ts for a in find_anomalies(result)], dtype=np.int64),
    }
    flags = zscore_flags(result.values, result.matrix.step_s)
    detections["zscore_points"] = grid_times[flags]
    detections["zscore_runs"] = grid_times[run_starts(flags)]
    tally = Tally(files=1, windows=len(windows))
    detail: dict[str, Any] = {"windows": len(windows), "step_s": result.matrix.step_s}
    for name, times in detections.items():
        tally.found[name], tally.false_pos[name] = score_windows(times, windows)
        detail[name] = {
            "detections": int(times.size),
            "found": tally.found[name],
            "false_pos": tally.false_pos[name],
        }
    return tally, detail


def load_windows(data: Path) -> dict[str, list[tuple[int, int]]]:
    raw = json.loads((data / "combined_windows.json").read_text())

    def secs(text: str) -> int:
        return int(parse_timestamp(text).timestamp())

    return {name: [(secs(lo), secs(hi)) for lo, hi in spans] for name, spans in raw.items()}


def _row(label: str, tally: Tally) -> str:
    cells = [f"{label:<24}{tally.files:>5}{tally.windows:>8}"]
    for name in DETECTORS:
        p, r, f1 = tally.prf(name)
        cells.append(
            f"{tally.found[name]:>4}{tally.false_pos[name]:>6} {p:5.2f} {r:5.2f} {f1:5.2f}"
        )
    return " |".join(cells)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--json", action="store_true", help="per-file detail as JSON")
    args = parser.parse_args(argv)
    windows = load_windows(args.data)
    config = DetectorConfig()
    families: dict[str, Tally] = defaultdict(Tally)
    details: dict[str, Any] = {}
    began = time.perf_counter()
    for path in sorted((args.data / "data").glob("*/*.csv")):
        key = f"{path.parent.name}/{path.name}"
        tally, details[key] = evaluate_file(path, windows.get(key, []), config)
        families[path.parent.name].add(tally)
    total = Tally()
    for tally in families.values():
        total.add(tally)
    if args.json:
        print(json.dumps({"files": details}, indent=2))
    head = " |".join(
        [f"{'family':<24}{'files':>5}{'windows':>8}"] + [f"{name:^28}" for name in DETECTORS]
    )
    sub = " |".join([" " * 37] + [f"{'TP':>4}{'FP':>6} {'P':>5} {'R':>5} {'F1':>5}"] * 3)
    print(head)
    print(sub)
    for family in sorted(families):
        print(_row(family, families[family]))
    print(_row("TOTAL", total))
    f1 = {name: total.prf(name)[2] for name in DETECTORS}
    strongest = max(f1["zscore_points"], f1["zscore_runs"])
    ratio = f1["detector"] / strongest if strongest else float("inf")
    print(
        f"\ndetector F1 {f1['detector']:.3f}; z-score F1 {f1['zscore_points']:.3f} (every "
        f"point), {f1['zscore_runs']:.3f} (run starts); ratio to the stronger: {ratio:.2f}x"
        f"; {time.perf_counter() - began:.1f}s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
