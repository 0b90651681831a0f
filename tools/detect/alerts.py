"""Scores -> alerts: one alert per excursion, with an honest onset.

An excursion starts at a point whose score is at least ``k_onset`` in either direction
after at least ``rearm`` calm points (|score| < k_onset); it lasts until the next such calm
stretch. It raises one alert, at its first point whose |score| reaches ``k_alert`` (which
already includes the minimum-change floor, see baseline). The onset is found by walking back
from the alert while the same-sign score stays at or above ``k_onset``, so a step is dated
where it began, not where the score crossed the alert threshold. Missing scores (gaps)
neither end nor extend a run: the state before the gap carries over.

Every step is a cumulative operation over the time axis, vectorised across series, and
depends only on the current and earlier scores, so it gives the same alerts online.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Alerts:
    alert: BoolArray  # (n, T) the point where an excursion raised its alert
    onset: IntArray  # (n, T) start of the same-sign run containing each point
    excursion_start: IntArray  # (n, T) start of the latest excursion at or before, else -1
    state: npt.NDArray[np.int8]  # (n, T) +1 / -1 inside a same-sign run, 0 calm


def _last_index_where(mask: BoolArray) -> IntArray:
    """For each point, the latest index <= it where mask holds, else -1."""
    idx = np.where(mask, np.arange(mask.shape[1], dtype=np.int64)[None, :], -1)
    return np.maximum.accumulate(idx, axis=1)


def segment(score: FloatArray, k_alert: float, k_onset: float, rearm: int) -> Alerts:
    """Alerts and onsets for a (n_series, n_points) score matrix."""
    n, total = score.shape
    seen = ~np.isnan(score)
    with np.errstate(invalid="ignore"):
        raw = np.where(score >= k_onset, 1, np.where(score <= -k_onset, -1, 0)).astype(np.int8)
    # Carry the last observed state across gaps; before the first score the state is calm.
    last_seen = _last_index_where(seen)
    state = np.where(last_seen >= 0,
                     np.take_along_axis(raw, np.maximum(last_seen, 0), axis=1), 0)
    state = state.astype(np.int8)
    positions = np.arange(total, dtype=np.int64)[None, :]
    active = state != 0
    calm_run = positions - _last_index_where(active)  # calm points ending here (incl.)
    prev_calm = np.concatenate([np.full((n, 1), rearm, dtype=np.int64), calm_run[:, :-1]],
                               axis=1)
    starts = active & (prev_calm >= rearm)
    exc_start = _last_index_where(starts)
    # Onset: the first point of the current same-sign run.
    changed = np.concatenate([state[:, :1] != 0, state[:, 1:] != state[:, :-1]], axis=1)
    onset = _last_index_where(changed)
    with np.errstate(invalid="ignore"):
        alertable = active & seen & (np.abs(score) >= k_alert)
    cum = np.cumsum(alertable, axis=1)
    safe_start = np.maximum(exc_start, 0)
    before = np.take_along_axis(cum, safe_start, axis=1) - np.take_along_axis(
        alertable, safe_start, axis=1)
    alert = alertable & (exc_start >= 0) & (cum - before == 1)
    return Alerts(alert=alert, onset=onset, excursion_start=exc_start, state=state)
