"""The shared scoring pass: steps and phases, grids, weekday factors, and the findings it
hands to detectors (identity kinds, new vendor error codes)."""

from __future__ import annotations

from typing import cast

import numpy as np
import pytest

from tests.tools.detect.storedata import DAY, HOUR, T0, Point, send_points
from tools.detect.detectors.activation import new_error_codes
from tools.detect.detectors.base import DetectContext, Direction, Finding, MetricRule
from tools.detect.detectors.identity import CONFIDENCE, MERGE, IdentityDetector
from tools.detect.detectors.scoring import align, infer_steps, snap_step
from tools.detect.detectors.weekly import row_factors, weekday
from tools.detect.engine import detect
from tools.detect.settings import DetectSettings
from tools.detect.signals import Series, SeriesKey
from tools.nodes import NodeRef
from tools.store import Store

NODE = NodeRef.dataset("braze://acme", "audience.cart")
MIN = 60_000_000


def series(ts: list[int] | np.ndarray, values: list[float] | np.ndarray, metric: str = "m",
           attrs: tuple[tuple[str, str], ...] = ()) -> Series:
    return Series(SeriesKey(NODE, metric, attrs), np.asarray(ts, dtype=np.int64),
                  np.asarray(values, dtype=np.float64), "otlp")


def test_steps_are_snapped_to_usual_schedules() -> None:
    rng = np.random.default_rng(1)
    hourly = T0 + np.arange(48) * HOUR + rng.integers(0, 5 * MIN, 48)
    daily = T0 + np.arange(10) * DAY + 2 * HOUR
    six = T0 + np.arange(20) * 6 * HOUR
    # A rerun repeats a daily slot within minutes: still daily.
    rerun = np.sort(np.append(daily, daily[4] + 40 * MIN))
    found = infer_steps([series(hourly, np.ones(48)), series(daily, np.ones(10)),
                         series(six, np.ones(20)), series(rerun, np.ones(11)),
                         series(daily[:3], np.ones(3))])
    assert found.tolist() == [3600, 86400, 21600, 86400, 0]
    assert snap_step(3500) == 3600 and snap_step(80_000) == 86400


def test_align_uses_each_series_phase_and_averages_a_shared_slot() -> None:
    a = series(T0 + np.arange(5) * DAY + 2 * HOUR + 20 * MIN, [1, 2, 3, 4, 5])
    # Ends near midnight, jittering across it: still one point per day.
    b_ts = T0 + np.arange(5) * DAY + np.array([-2, 3, -1, 2, 1]) * MIN
    b = series(np.append(b_ts, b_ts[2] + 30 * MIN), [10, 20, 30, 40, 50, 32])
    grid = align([a, b], 86400)
    assert grid.values.shape[1] >= 5
    assert np.nansum(~np.isnan(grid.values[0])) == 5
    row = grid.values[1][~np.isnan(grid.values[1])]
    assert row.tolist() == [10, 20, 31, 40, 50]
    assert grid.ts_us[1][~np.isnan(grid.values[1])][2] == b_ts[2] + 30 * MIN, "latest time"


def test_weekday_factors_only_when_they_help() -> None:
    days = np.arange(21)
    ts = T0 + days * DAY
    rhythm = np.asarray([1.02, 1.03, 1.03, 1.02, 1.0, 0.8, 0.85])[weekday(ts)]
    noise = 1 + 0.005 * np.random.default_rng(3).normal(size=21)
    found = row_factors(1000 * rhythm * noise, ts)
    assert found is not None
    saturday, monday = found[weekday(ts) == 5][0], found[weekday(ts) == 0][0]
    assert saturday / monday == pytest.approx(0.8 / 1.02, rel=0.02)
    flat = 1000 * (1 + 0.02 * np.random.default_rng(4).normal(size=21))
    assert row_factors(flat, ts) is None, "no rhythm: no factors"
    assert row_factors(1000 * rhythm[:12], ts[:12]) is None, "too few weeks"


def test_new_error_code_is_reported_from_its_first_errors() -> None:
    sync_times = T0 + np.arange(24) * 6 * HOUR
    old = series(sync_times, np.full(24, 12.0), "activation.sync.errors", (("error.code", "429"),))
    new = series(sync_times[-2:], [0.0, 4000.0], "activation.sync.errors",
                 (("error.code", "401"),))
    size = series(sync_times, np.full(24, 50_000.0), "activation.audience.size")
    (d,) = new_error_codes([old, new, size], int(sync_times[-1]) + HOUR)
    assert d.kind == "sync_failure" and d.attributes == {"error.code": "401"}
    assert d.onset_us == sync_times[-1], "the first non-zero count"
    assert d.severity == "high", "8% of the audience rejected"
    assert new_error_codes([old, new], int(sync_times[-1]) + 4 * DAY) == [], "no longer new"
    assert new_error_codes([new], int(sync_times[-1])) == [], "no history without it"


def _finding(rule: MetricRule, direction: Direction) -> Finding:
    return Finding(series([T0], [1.0], rule.metric), rule, direction, T0, T0, T0, observed=1.0,
                   expected=1.0, lower=0.9, upper=1.1, score=9.0, peak=9.0, k_alert=4.5,
                   evidence={})


def test_confidence_drop_takes_the_kind_of_what_moved_with_it() -> None:
    detector = IdentityDetector()
    no_context = cast(DetectContext, None)  # the identity detector reads only its findings
    both = detector.detect(no_context, [_finding(MERGE, "up"), _finding(CONFIDENCE, "down")])
    assert {d.metric: d.kind for d in both} == {MERGE.metric: "identity_overmerge",
                                                CONFIDENCE.metric: "identity_overmerge"}
    (alone,) = detector.detect(no_context, [_finding(CONFIDENCE, "down")])
    assert alone.kind == "identity_fragmentation"


def _daily_rows(store: Store, last: float) -> None:
    # Eight days of a daily load with 6% noise (so the band is about +-30%), then ``last``.
    rows = [13_469.0, 10_160.0, 12_301.0, 11_591.0, 11_674.0, 11_845.0, 10_546.0, 11_833.0]
    send_points(store, [Point("s3://acme", "orders/daily", "data.row_count",
                              T0 + d * DAY + 2 * HOUR, value)
                        for d, value in enumerate([*rows, last])])


def test_a_large_drop_on_a_short_daily_history_is_reported(store: Store) -> None:
    """A 23% drop is 3.7 sigmas on eight noisy points: under the 4-sigma alert, but past the
    20% widest band and more than k_onset sigmas out, so it is a volume drop all the same;
    a 10% drop is not."""
    _daily_rows(store, 9_000.0)
    at = T0 + 8 * DAY + 5 * HOUR
    (drop,) = [d for d in detect(store, at, DetectSettings()) if d.kind == "volume_drop"]
    assert drop.onset_us == T0 + 8 * DAY + 2 * HOUR and drop.severity == "medium"
    assert "past the widest band" in drop.evidence["reason"]
    assert drop.upper is not None and drop.lower is not None and drop.lower < 9_000.0


def test_a_modest_drop_on_a_short_daily_history_is_not(store: Store) -> None:
    _daily_rows(store, 10_500.0)
    assert detect(store, T0 + 8 * DAY + 5 * HOUR, DetectSettings()) == []
