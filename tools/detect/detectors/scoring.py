"""The shared scoring pass: every rule's series on regular grids, scored by the numeric
core many at a time, reduced to the excursions still going on at the detection time.

Series arrive at their own pace (gauges hourly, syncs every six hours, daily loads once a
day, each at its own minute). Each series gets its step (the median spacing, snapped to a
usual schedule) and its phase (where in the step its points fall), and lands on the grid
of that step with slot = round((t - phase) / step). Series sharing a step and a detector
configuration are scored in one ``score_matrix`` call. Onsets are read back from the real
observation times, not from the grid.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from tools.detect import Anomaly, DetectorConfig, find_anomalies, score_matrix
from tools.detect.detectors.base import EVIDENCE_POINTS, Finding, MetricRule, round6
from tools.detect.detectors.weekly import weekly_factors
from tools.detect.signals import Series
from tools.timeutil import iso

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

HOUR = 3600
DAY = 86_400
# The schedules series are snapped to: a median spacing between two of these takes the
# nearer (in ratio), so a daily load with one rerun is still daily.
STEPS = (60, 300, 600, 900, 1800, HOUR, 2 * HOUR, 3 * HOUR, 4 * HOUR, 6 * HOUR, 8 * HOUR,
         12 * HOUR, DAY, 7 * DAY)
MIN_POINTS = 4
# After an excursion's last departing point, it stays open for this much calm (in time,
# at least one point): one good reading between bad ones should not close and reopen it.
HOLD_SECONDS = 6 * HOUR
# A series silent for this long (or three of its steps, if longer) no longer speaks for now.
STALE_SECONDS = 26 * HOUR
DAILY_K_SHARE = 8 / 9
# The core widens a band to spikes seen in several separate stretches of its scale window;
# three weeks of daily points hold about ten stretches, too few to tell a heavy tail from
# noise (the widening came out at 2x), so for daily series that term is left out.
DAILY_TAIL_EPISODES = 12


def config_for_step(base: DetectorConfig, step_s: int) -> DetectorConfig:
    """The core's defaults are for hourly data; slower series get memory in points that
    a few weeks of history can fill (a daily load has 14 points in two weeks, not 24)."""
    if step_s >= DAY:
        # One point per block: a six-point block would freeze a daily baseline for a week.
        # A few weeks hold only a dozen residuals, whose upper quantile (one of the terms of
        # the core's robust sigma) is then their maximum: the sigma comes out about 1.5x
        # too wide, so the alert threshold is eased by DAILY_K_SHARE to compensate.
        # Daily loads also carry a weekly rhythm (see weekly.py), so a two-sigma weekday is
        # common: the onset walks back only over clearer departures.
        k_alert = base.k_alert * DAILY_K_SHARE
        return replace(base, level_window_points=7, min_history_points=5, min_scale_points=5,
                       warmup_seconds=5 * DAY, scale_window_seconds=21 * DAY,
                       accept_after_seconds=3 * DAY, rearm_seconds=2 * DAY, min_rearm_points=2,
                       block_points=1, k_alert=k_alert, tail_episodes=DAILY_TAIL_EPISODES,
                       k_onset=max(min(base.k_onset, k_alert), 0.8 * k_alert))
    if step_s > HOUR:
        return replace(base, level_window_points=12, min_history_points=8, min_scale_points=8,
                       scale_window_seconds=14 * DAY,
                       block_points=max(1, base.block_points * HOUR // step_s))
    return base


@dataclass(slots=True)
class ScoreItem:
    series: Series
    rule: MetricRule
    # Values are multiplied by this before scoring (and expectations divided after): a
    # series' absolute change floor becomes the config's unit floor, so series whose
    # floors differ only in size share one score_matrix call.
    scale: float = 1.0


# (item, step) -> (the core's config, the item's scale)
ConfigFor = Callable[[ScoreItem, int], tuple[DetectorConfig, float]]


def _row_median(values: FloatArray, rows: IntArray, n: int) -> FloatArray:
    """Median of ``values`` per row id (rows in 0..n-1); NaN for rows with none."""
    out = np.full(n, np.nan)
    if values.size == 0:
        return out
    order = np.lexsort((values, rows))
    v, r = values[order], rows[order]
    counts = np.bincount(r, minlength=n)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    has = counts > 0
    lo = starts[has] + (counts[has] - 1) // 2
    hi = starts[has] + counts[has] // 2
    out[has] = (v[lo] + v[hi]) / 2
    return out


def snap_step(spacing_s: float) -> int:
    return min(STEPS, key=lambda s: abs(math.log(max(spacing_s, 1.0) / s)))


@dataclass(slots=True)
class _Flat:
    """All points of many series, concatenated (rows are series indices)."""

    rows: IntArray
    ts_s: FloatArray
    values: FloatArray
    n: int

    @classmethod
    def of(cls, series: Sequence[Series]) -> _Flat:
        lens = np.fromiter((s.ts_us.size for s in series), dtype=np.int64, count=len(series))
        rows = np.repeat(np.arange(len(series), dtype=np.int64), lens)
        if len(series):
            ts = np.concatenate([s.ts_us for s in series]).astype(np.float64) / 1e6
            values = np.concatenate([s.values for s in series])
        else:
            ts, values = np.empty(0), np.empty(0)
        return cls(rows, ts, values, len(series))


def infer_steps(series: Sequence[Series]) -> IntArray:
    """Each series' step in seconds (0 when it has too few points to tell)."""
    flat = _Flat.of(series)
    same = flat.rows[1:] == flat.rows[:-1]
    gaps = np.diff(flat.ts_s)[same]
    keep = gaps > 0  # repeated timestamps (reruns) are no spacing at all
    med = _row_median(gaps[keep], flat.rows[1:][same][keep], flat.n)
    counts = np.bincount(flat.rows, minlength=flat.n)
    out = np.zeros(flat.n, dtype=np.int64)
    for i in np.nonzero((counts >= MIN_POINTS) & np.isfinite(med))[0]:
        out[i] = snap_step(float(med[i]))
    return out


@dataclass(slots=True)
class Aligned:
    values: FloatArray  # (n, T), NaN where nothing was observed
    ts_us: IntArray  # (n, T), the latest observation time in each slot, -1 where none
    start_slot: int
    step_s: int


def align(series: Sequence[Series], step_s: int) -> Aligned:
    """Put series of one step on a shared grid; points sharing a slot are averaged."""
    flat = _Flat.of(series)
    n = flat.n
    offsets = np.mod(flat.ts_s, step_s)
    last_idx = np.cumsum(np.bincount(flat.rows, minlength=n)) - 1
    ref = offsets[last_idx][flat.rows]
    # Phase relative to the latest point, wrapped to +-step/2, so jitter across a slot
    # boundary does not split the median.
    dev = np.mod(offsets - ref + step_s / 2, step_s) - step_s / 2
    phase = offsets[last_idx] + np.nan_to_num(_row_median(dev, flat.rows, n))
    slots = np.rint((flat.ts_s - phase[flat.rows]) / step_s).astype(np.int64)
    start = int(slots.min())
    width = int(slots.max()) - start + 1
    cols = slots - start
    flat_idx = flat.rows * width + cols
    sums = np.bincount(flat_idx, weights=flat.values, minlength=n * width)
    counts = np.bincount(flat_idx, minlength=n * width)
    with np.errstate(invalid="ignore", divide="ignore"):
        values = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan).reshape(n, width)
    ts = np.full(n * width, -1, dtype=np.int64)
    np.maximum.at(ts, flat_idx, np.rint(flat.ts_s * 1e6).astype(np.int64))
    return Aligned(values, ts.reshape(n, width), start, step_s)


def _last_finite(values: FloatArray) -> IntArray:
    finite = ~np.isnan(values)
    width = values.shape[1]
    idx = np.where(finite, np.arange(width)[None, :], -1)
    return np.asarray(idx.max(axis=1), dtype=np.int64)


def _evidence(aligned: Aligned, row: int, upto: int, expected: FloatArray,
              lower: FloatArray, upper: FloatArray, extra: dict[str, object]
              ) -> dict[str, object]:
    vals = aligned.values[row, : upto + 1]
    idx = np.nonzero(~np.isnan(vals))[0][-EVIDENCE_POINTS:]
    points = [
        [iso(int(aligned.ts_us[row, i])), round6(float(vals[i])), round6(float(expected[i])),
         round6(float(lower[i])), round6(float(upper[i]))]
        for i in idx
    ]
    return {"step_seconds": aligned.step_s, "columns": ["time", "value", "expected", "lower",
                                                         "upper"], "points": points, **extra}


def score_group(items: Sequence[ScoreItem], step_s: int, config: DetectorConfig, at_us: int
                ) -> list[Finding]:
    """Score series of one step and config; the excursions still going on at ``at_us``."""
    aligned = align([it.series for it in items], step_s)
    factors = np.ones(aligned.values.shape)
    if step_s == DAY:
        counts = np.asarray([it.rule.unit == "" for it in items])
        if counts.any():
            factors[counts] = weekly_factors(aligned.values[counts], aligned.ts_us[counts])
    # Weekday factors and floor scales, applied before scoring and undone after.
    factors /= np.asarray([it.scale for it in items])[:, None]
    result = score_matrix(aligned.values / factors, step_s, aligned.start_slot * step_s,
                          config)
    latest: dict[int, Anomaly] = {}
    for anomaly in find_anomalies(result):
        latest[anomaly.series] = anomaly  # in (series, time) order: the last one wins
    if not latest:
        return []
    last = _last_finite(aligned.values)
    hold = max(1, math.ceil(HOLD_SECONDS / step_s))
    stale_us = max(STALE_SECONDS, 3 * step_s) * 1_000_000
    # Back to the series' own units (weekday factors are 1 unless applied).
    exp, lo, hi = result.expected * factors, result.lower * factors, result.upper * factors
    score, state = result.score, result.alerts.state
    out = []
    for row, a in latest.items():
        li = int(last[row])
        if li < 0 or aligned.ts_us[row, li] < at_us - stale_us:
            continue
        if a.end_index is not None:
            calm = int(np.count_nonzero(~np.isnan(aligned.values[row, a.end_index + 1 : li + 1])))
            if calm >= hold:
                continue
        rule = items[row].rule
        if rule.min_points > 1:
            span = slice(a.onset_index, li + 1)
            departing = (state[row, span] != 0) & ~np.isnan(aligned.values[row, span])
            if int(np.count_nonzero(departing)) < rule.min_points:
                continue
        pick = li if not math.isnan(exp[row, li]) else a.alert_index
        latest_score = float(score[row, pick]) if not math.isnan(score[row, pick]) else a.score
        ev = a.evidence
        extra: dict[str, object] = {
            "model": ev.model,
            "sigma": round6(ev.sigma * float(factors[row, li])),
            "baseline_points": len(ev.baseline_indices),
            "onset": iso(int(aligned.ts_us[row, a.onset_index])),
            "alert_at": iso(int(aligned.ts_us[row, a.alert_index])),
            "k_alert": config.k_alert,
        }
        weekday = float(factors[row, li] * items[row].scale)
        if step_s == DAY and weekday != 1.0:
            extra["weekday_factor"] = round6(weekday)
        # A band below zero says nothing for counts and fractions that cannot go there.
        floor = 0.0 if np.nanmin(aligned.values[row]) >= 0 else -math.inf
        out.append(Finding(
            series=items[row].series,
            rule=rule,
            direction=a.direction,
            onset_us=int(aligned.ts_us[row, a.onset_index]),
            alert_us=int(aligned.ts_us[row, a.alert_index]),
            last_us=int(aligned.ts_us[row, li]),
            observed=float(aligned.values[row, li]),
            expected=float(exp[row, pick]),
            lower=max(floor, float(lo[row, pick])),
            upper=float(hi[row, pick]),
            score=latest_score,
            peak=a.peak_score,
            k_alert=config.k_alert,
            evidence=_evidence(aligned, row, li, exp[row], np.maximum(lo[row], floor), hi[row],
                               extra),
        ))
    return out


@dataclass(slots=True)
class ScoreReport:
    findings: list[Finding]
    scored: int  # series that had enough points to score
    skipped: int  # series too short to tell their step
    groups: int  # score_matrix calls


def score_items(items: Sequence[ScoreItem], config_for: ConfigFor, at_us: int) -> ScoreReport:
    """Findings for every item, grouping series by step and detector configuration."""
    steps = infer_steps([it.series for it in items])
    groups: dict[tuple[int, DetectorConfig], list[ScoreItem]] = defaultdict(list)
    skipped = 0
    for item, step in zip(items, steps, strict=True):
        if step == 0:
            skipped += 1
            continue
        config, item.scale = config_for(item, int(step))
        groups[(int(step), config)].append(item)
    findings: list[Finding] = []
    for (step, cfg), members in groups.items():
        findings.extend(score_group(members, step, cfg, at_us))
    return ScoreReport(findings, len(items) - skipped, skipped, len(groups))


__all__ = [
    "Aligned",
    "ScoreItem",
    "ScoreReport",
    "align",
    "config_for_step",
    "infer_steps",
    "score_group",
    "score_items",
    "snap_step",
]
