"""Detection over many series at once: 10,000 series x 30 days hourly by default.

    .venv/bin/python bench/bench_detect.py [--series N] [--days D] [--seed S] [--budget 10]

Synthetic series: a random level, a daily cycle (random amplitude and phase), a weekly
cycle and multiplicative Gaussian noise (2-10%). One series in ten gets one injected
anomaly after the first week: a spike (one point), a step (six hours) or an outage (the
value drops to zero for three hours), each 8-12 noise sigmas. Prints the wall time of
score_matrix + find_anomalies, how many injected anomalies were found (an alert whose onset
is within one point of the injection, or inside it) and the false alerts. Exits 1 when the
time is over --budget seconds.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tools.detect import find_anomalies, score_matrix

HOUR = 3600
KINDS = ("spike", "step", "outage")
LENGTH = {"spike": 1, "step": 6, "outage": 3}


@dataclass(frozen=True, slots=True)
class Injection:
    series: int
    index: int
    kind: str

    @property
    def end(self) -> int:
        return self.index + LENGTH[self.kind]


def make_series(n: int, days: int, seed: int, share: float = 0.1
                ) -> tuple[npt.NDArray[np.float64], list[Injection]]:
    rng = np.random.default_rng(seed)
    points = days * 24
    t = np.arange(points)
    level = rng.lognormal(4, 1, (n, 1))
    amp = rng.uniform(0.1, 0.5, (n, 1))
    phase = rng.uniform(0, 24, (n, 1))
    weekly = rng.uniform(0, 0.15, (n, 1))
    shape = 1 + amp * np.sin(2 * np.pi * (t + phase) / 24) + weekly * np.sin(2 * np.pi * t / 168)
    noise = rng.uniform(0.02, 0.1, (n, 1))
    values = level * shape * (1 + noise * rng.normal(size=(n, points)))
    injected: list[Injection] = []
    for row in np.nonzero(rng.random(n) < share)[0]:
        kind = KINDS[int(rng.integers(len(KINDS)))]
        start = int(rng.integers(7 * 24, points - 12))
        sd = level[row, 0] * shape[row, start] * noise[row, 0]
        size = rng.uniform(8, 12) * sd * rng.choice([-1.0, 1.0])
        span = slice(start, start + LENGTH[kind])
        if kind == "outage":
            values[row, span] = 0.0
        else:
            values[row, span] += size
        injected.append(Injection(int(row), start, kind))
    return values, injected


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--budget", type=float, default=10.0)
    args = parser.parse_args(argv)
    values, injected = make_series(args.series, args.days, args.seed)
    began, cpu = time.perf_counter(), time.process_time()
    result = score_matrix(values, HOUR, 1_700_000_000)
    anomalies = find_anomalies(result)
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu

    by_series: dict[int, Injection] = {inj.series: inj for inj in injected}
    found: dict[str, int] = dict.fromkeys(KINDS, 0)
    exact = false_alerts = 0
    matched: set[int] = set()
    for anomaly in anomalies:
        inj = by_series.get(anomaly.series)
        if inj and inj.index - 1 <= anomaly.onset_index < inj.end + 1:
            if anomaly.series not in matched:
                matched.add(anomaly.series)
                found[inj.kind] += 1
                exact += anomaly.onset_index == inj.index
        elif not (inj and inj.index <= anomaly.alert_index <= inj.end + 24):
            # An alert on the recovery of an injected anomaly is not a false one.
            false_alerts += 1
    scored = int(np.isfinite(result.score).sum())
    print(f"{args.series} series x {values.shape[1]} points: detection took {wall:.2f}s wall "
          f"({cpu:.2f}s CPU), budget {args.budget:.0f}s")
    print(f"injected {len(injected)}, found {len(matched)} "
          f"({len(matched) / max(len(injected), 1):.1%}); onset exact {exact}, within one "
          f"point {len(matched)}")
    for kind in KINDS:
        total = sum(1 for inj in injected if inj.kind == kind)
        print(f"  {kind:<7} {found[kind]}/{total}")
    print(f"alerts {len(anomalies)}; false alerts {false_alerts} "
          f"({false_alerts / max(scored, 1) * 1e5:.2f} per 100,000 scored points)")
    return 0 if wall < args.budget else 1


if __name__ == "__main__":
    sys.exit(main())
