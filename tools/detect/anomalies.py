"""Alerts -> Anomaly records with the evidence behind each one."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from tools.detect.baseline import LEVEL, MODEL_NAMES, NO_MODEL, BaselineFit
from tools.detect.series import MatrixResult, SeriesResult
from tools.timeutil import iso

Direction = Literal["up", "down"]
Severity = Literal["low", "medium", "high"]


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the expected value and band at the alert point were built from."""

    model: str  # level | hour_of_day | hour_of_week
    baseline_indices: tuple[int, ...]  # grid indices whose values formed the expectation
    scale_window: tuple[int, int]  # [start, end) grid indices behind the robust scale
    sigma: float  # effective scale (after the change floor); band = expected ± k_alert·sigma


@dataclass(frozen=True, slots=True)
class Anomaly:
    series: int  # row of the matrix (0 for score_series)
    onset_index: int  # first point of the departure
    onset_ts: int  # epoch seconds
    alert_index: int  # where the score first reached k_alert (the causal alert time)
    alert_ts: int
    direction: Direction
    observed: float  # at the alert point
    expected: float
    lower: float
    upper: float
    score: float  # robust z-score at the alert point
    severity: Severity
    peak_score: float  # largest-magnitude score of the excursion (known by the series end)
    end_index: int | None  # last departing point, None while the excursion is ongoing
    evidence: Evidence

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["onset_time"] = iso(self.onset_ts * 1_000_000)
        out["alert_time"] = iso(self.alert_ts * 1_000_000)
        out["evidence"]["baseline_indices"] = list(self.evidence.baseline_indices)
        out["evidence"]["scale_window"] = list(self.evidence.scale_window)
        return out


def severity_of(score: float, k_alert: float) -> Severity:
    """How far past the alert threshold: under 1.5x is low, under 3x medium, else high."""
    ratio = abs(score) / k_alert
    return "low" if ratio < 1.5 else "medium" if ratio < 3 else "high"


def _in_training(fit: BaselineFit, values: np.ndarray[Any, Any], row: int,
                 idx: np.ndarray[Any, Any], as_of: int) -> np.ndarray[Any, Any]:
    """Which points idx (all before as_of) were in the training copy at time as_of."""
    released = fit.released_at[row, idx]
    was_out = fit.excluded[row, idx] & ((released == 0) | (released > as_of))
    return np.asarray(~np.isnan(values[row, idx]) & ~was_out)


def evidence_at(result: MatrixResult, row: int, index: int) -> Evidence:
    """Rebuild which points the expectation at (row, index) came from, by the same rules
    the baseline applied (see baseline.py and profiles.py)."""
    fit, plan = result.fit, result.fit.plan
    code = int(fit.model[row, index])
    values = result.values
    used = np.arange(0)
    if code == LEVEL:
        as_of = (index // plan.block) * plan.block
        idx = np.arange(max(0, as_of - plan.level_window), as_of)
        used = idx[_in_training(fit, values, row, idx, as_of)]
    elif code != NO_MODEL:
        as_of = (index // plan.refit) * plan.refit
        period = plan.period(code)
        seasons = max(1, min(plan.seasons(code), as_of // period))
        idx = index - period * np.arange(seasons, 0, -1)
        idx = idx[(idx >= 0) & (idx < as_of)]
        kept = idx[_in_training(fit, values, row, idx, as_of)]
        present = idx[~np.isnan(values[row, idx])]
        # A phase mostly excluded is taken as pattern and read raw (seasonal_profile).
        used = present if 2 * kept.size < present.size else kept
    refits = fit.refit_starts[fit.refit_starts <= index]
    refit = int(refits[-1]) if refits.size else index
    return Evidence(
        model=MODEL_NAMES[code] if code >= 0 else "none",
        baseline_indices=tuple(int(i) for i in used),
        scale_window=(max(0, refit - plan.scale_window), refit),
        sigma=float(fit.sigma[row, index]),
    )


def _excursion_extent(result: MatrixResult, row: int, alert_index: int,
                      start: int) -> tuple[float, int | None]:
    """(peak score, last departing index or None if still departing at the series end)."""
    alerts = result.alerts
    later = np.nonzero(alerts.excursion_start[row, alert_index:] != start)[0]
    stop = alert_index + int(later[0]) if later.size else result.values.shape[1]
    state = alerts.state[row, start:stop]
    scores = result.fit.score[row, start:stop]
    active = np.nonzero(state != 0)[0]
    peak_at = int(np.nanargmax(np.where(state != 0, np.abs(scores), -1.0)))
    end: int | None = start + int(active[-1])
    if not later.size and state[-1] != 0:
        end = None
    return float(scores[peak_at]), end


def find_anomalies(result: MatrixResult | SeriesResult) -> list[Anomaly]:
    """Every alert of every series, in (series, time) order."""
    matrix = result.matrix if isinstance(result, SeriesResult) else result
    fit, k_alert = matrix.fit, matrix.config.k_alert
    lower, upper, stamps = matrix.lower, matrix.upper, matrix.timestamps
    out: list[Anomaly] = []
    for row, index in zip(*np.nonzero(matrix.alerts.alert), strict=True):
        r, i = int(row), int(index)
        onset = int(matrix.alerts.onset[r, i])
        score = float(fit.score[r, i])
        peak, end = _excursion_extent(matrix, r, i, int(matrix.alerts.excursion_start[r, i]))
        out.append(Anomaly(
            series=r,
            onset_index=onset,
            onset_ts=int(stamps[onset]),
            alert_index=i,
            alert_ts=int(stamps[i]),
            direction="up" if score > 0 else "down",
            observed=float(matrix.values[r, i]),
            expected=float(fit.expected[r, i]),
            lower=float(lower[r, i]),
            upper=float(upper[r, i]),
            score=score,
            severity=severity_of(score, k_alert),
            peak_score=peak,
            end_index=end,
            evidence=evidence_at(matrix, r, i),
        ))
    return out
