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

from tools.detect import Anomaly, DetectorConfig, MatrixResult, find_anomalies, score_matrix
from tools.detect.detectors.base import EVIDENCE_POINTS, Direction, Finding, MetricRule, round6
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
    """Median of ``values`` per row id (rows in 0..n-1, nondecreasing); NaN for rows with
    none."""
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


def _row_extremes(values: FloatArray, rows: IntArray, n: int) -> tuple[FloatArray, FloatArray]:
    """(min, max) of ``values`` per row id (rows nondecreasing); NaN for empty rows."""
    lo, hi = np.full(n, np.nan), np.full(n, np.nan)
    if values.size == 0:
        return lo, hi
    counts = np.bincount(rows, minlength=n)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    has = counts > 0
    lo[has] = np.minimum.reduceat(values, starts[has])
    hi[has] = np.maximum.reduceat(values, starts[has])
    return lo, hi


# Midpoints (in log) between consecutive STEPS: a spacing snaps to the step whose
# interval holds it.
_EDGES = np.sqrt(np.asarray(STEPS[:-1], dtype=np.float64) * np.asarray(STEPS[1:]))


def _snap(spacing_s: FloatArray) -> IntArray:
    return np.asarray(np.asarray(STEPS)[np.searchsorted(_EDGES, spacing_s)], dtype=np.int64)


def snap_step(spacing_s: float) -> int:
    """The usual schedule nearest (in ratio) to a spacing in seconds."""
    return int(_snap(np.asarray([spacing_s], dtype=np.float64))[0])


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
    """Each series' step in seconds (0 when it has too few points to tell): its median
    spacing, snapped to STEPS."""
    flat = _Flat.of(series)
    same = flat.rows[1:] == flat.rows[:-1]
    gaps = np.diff(flat.ts_s)[same]
    keep = gaps > 0  # repeated timestamps (reruns) are no spacing at all
    gaps, gap_rows = gaps[keep], flat.rows[1:][same][keep]
    # The median lies between the smallest and the largest gap: where both snap to the
    # same step (any regular series), so does the median, and no sort is needed.
    lo, hi = _row_extremes(gaps, gap_rows, flat.n)
    known = np.isfinite(lo)
    snapped = np.zeros(flat.n, dtype=np.int64)
    snapped[known] = _snap(lo[known])
    mixed = known & (snapped != _snap(np.where(known, hi, 1.0)))
    if mixed.any():
        pick = mixed[gap_rows]
        med = _row_median(gaps[pick], gap_rows[pick], flat.n)
        snapped[mixed] = _snap(med[mixed])
    counts = np.bincount(flat.rows, minlength=flat.n)
    return np.where(known & (counts >= MIN_POINTS), snapped, 0)


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
    # The midrange places every point as the median would when the deviations span less
    # than half a step (all within a quarter step of it); only wider ones need the median.
    lo, hi = _row_extremes(dev, flat.rows, n)
    centre = np.nan_to_num((lo + hi) / 2)
    wide = np.nan_to_num(hi - lo) >= step_s / 2
    if wide.any():
        pick = wide[flat.rows]
        centre[wide] = np.nan_to_num(_row_median(dev[pick], flat.rows[pick], n))[wide]
    phase = offsets[last_idx] + centre
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
    # Rows are concatenated in order and sorted in time, so flat_idx never decreases and
    # the last point of each run of equal slots is that slot's latest.
    last = np.append(flat_idx[1:] != flat_idx[:-1], True)
    ts[flat_idx[last]] = np.rint(flat.ts_s[last] * 1e6).astype(np.int64)
    return Aligned(values, ts.reshape(n, width), start, step_s)


def _significant(table: FloatArray, digits: int = 6) -> list[list[float | None]]:
    """Values rounded to ``digits`` significant digits (None where not finite)."""
    finite = np.isfinite(table)
    safe = np.where(finite & (table != 0), np.abs(table), 1.0)
    scale = 10.0 ** (digits - 1 - np.floor(np.log10(safe)))
    rounded = np.round(np.where(finite, table, 0.0) * scale) / scale
    return [[v if ok else None for v, ok in zip(r, f, strict=True)]
            for r, f in zip(rounded.tolist(), finite.tolist(), strict=True)]


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
    table = _significant(np.stack([vals[idx], expected[idx], lower[idx], upper[idx]], axis=1))
    points = [[iso(int(aligned.ts_us[row, i])), *values]
              for i, values in zip(idx.tolist(), table, strict=True)]
    return {"step_seconds": aligned.step_s, "columns": ["time", "value", "expected", "lower",
                                                         "upper"], "points": points, **extra}


@dataclass(slots=True)
class _Scored:
    """One score_matrix call, back in the series' own units, and how findings are read."""

    items: Sequence[ScoreItem]
    aligned: Aligned
    factors: FloatArray  # weekday factors / floor scales (values were divided by them)
    result: MatrixResult
    config: DetectorConfig
    last: IntArray  # each row's latest observed index (-1: none)
    lower: FloatArray  # the result's band, computed once (each access recomputes it)
    upper: FloatArray

    def finding(self, row: int, onset: int, alert: int, direction: Direction, peak: float,
                extra: dict[str, object]) -> Finding:
        """The finding for ``row`` as of its latest point (``alert``'s band if unscored)."""
        aligned, factors, li = self.aligned, self.factors, int(self.last[row])
        exp = self.result.expected[row] * factors[row]
        # A band below zero says nothing for counts and fractions that cannot go there.
        floor = 0.0 if np.nanmin(aligned.values[row]) >= 0 else -math.inf
        lo = np.maximum(self.lower[row] * factors[row], floor)
        hi = self.upper[row] * factors[row]
        pick = li if not math.isnan(exp[li]) else alert
        score = float(self.result.score[row, pick])
        weekday = float(factors[row, li] * self.items[row].scale)
        if self.aligned.step_s == DAY and weekday != 1.0:
            extra["weekday_factor"] = round6(weekday)
        extra.update(onset=iso(int(aligned.ts_us[row, onset])),
                     alert_at=iso(int(aligned.ts_us[row, alert])), k_alert=self.config.k_alert)
        return Finding(
            series=self.items[row].series, rule=self.items[row].rule, direction=direction,
            onset_us=int(aligned.ts_us[row, onset]), alert_us=int(aligned.ts_us[row, alert]),
            last_us=int(aligned.ts_us[row, li]), observed=float(aligned.values[row, li]),
            expected=float(exp[pick]), lower=float(lo[pick]), upper=float(hi[pick]),
            score=score if math.isfinite(score) else peak, peak=peak,
            k_alert=self.config.k_alert,
            evidence=_evidence(aligned, row, li, exp, lo, hi, extra),
        )

    def ongoing(self, row: int, a: Anomaly, hold: int) -> bool:
        """Whether the excursion is still going on (or calm for fewer than ``hold`` points)
        and departed for at least its rule's ``min_points``."""
        li = int(self.last[row])
        values, state = self.aligned.values[row], self.result.alerts.state[row]
        if a.end_index is not None and \
                int(np.count_nonzero(~np.isnan(values[a.end_index + 1 : li + 1]))) >= hold:
            return False
        span = slice(a.onset_index, li + 1)
        departing = int(np.count_nonzero((state[span] != 0) & ~np.isnan(values[span])))
        return departing >= self.items[row].rule.min_points

    def wide_band(self, row: int) -> Finding | None:
        """A move past the rule's ``max_rel_band`` at the latest point, at least k_onset
        sigmas out: reported even if a short history left the band wider than that."""
        rule, li = self.items[row].rule, int(self.last[row])
        if rule.max_rel_band is None or li < 0:
            return None
        exp = float(self.result.expected[row, li] * self.factors[row, li])
        obs = float(self.aligned.values[row, li])
        z = float(self.result.score[row, li])
        if not (math.isfinite(exp) and math.isfinite(z)) or exp == 0:
            return None
        moved = abs(obs - exp)
        if moved < rule.max_rel_band * abs(exp) or moved < rule.min_abs_change \
                or int(self.result.alerts.state[row, li]) == 0:
            return None
        onset = int(self.result.alerts.onset[row, li])
        extra: dict[str, object] = {
            "model": self.result.model_name(row, li),
            "sigma": round6(float(self.result.fit.sigma[row, li] * self.factors[row, li])),
            "reason": f"moved {moved / abs(exp):.0%}, past the widest band "
                      f"(+-{rule.max_rel_band:.0%}) a short history allows",
        }
        return self.finding(row, onset, li, "up" if obs > exp else "down", z, extra)


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
    scored = _Scored(items, aligned, factors, result, config, _last_finite(aligned.values),
                     result.lower, result.upper)
    latest: dict[int, Anomaly] = {}
    for anomaly in find_anomalies(result):
        latest[anomaly.series] = anomaly  # in (series, time) order: the last one wins
    hold = max(1, math.ceil(HOLD_SECONDS / step_s))
    stale_us = max(STALE_SECONDS, 3 * step_s) * 1_000_000
    out = []
    for row in range(len(items)):
        li = int(scored.last[row])
        if li < 0 or aligned.ts_us[row, li] < at_us - stale_us:
            continue
        a = latest.get(row)
        if a is not None and scored.ongoing(row, a, hold):
            extra: dict[str, object] = {
                "model": a.evidence.model,
                "sigma": round6(a.evidence.sigma * float(factors[row, li])),
                "baseline_points": len(a.evidence.baseline_indices),
            }
            out.append(scored.finding(row, a.onset_index, a.alert_index, a.direction,
                                      a.peak_score, extra))
            continue
        wide = scored.wide_band(row)
        if wide is not None:
            out.append(wide)
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
