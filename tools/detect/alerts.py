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
Int32Array = npt.NDArray[np.int32]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Alerts:
    alert: BoolArray  # (n, T) the point where an excursion raised its alert
    onset: Int32Array  # (n, T) start of the same-sign run containing each point
    excursion_start: Int32Array  # (n, T) start of the latest excursion at or before, else -1
    state: npt.NDArray[np.int8]  # (n, T) +1 / -1 inside a same-sign run, 0 calm


def _last_index_where(mask: BoolArray) -> Int32Array:
    """For each point, the latest index <= it where mask holds, else -1."""
    idx = np.where(mask, np.arange(mask.shape[1], dtype=np.int32)[None, :], np.int32(-1))
    return np.asarray(np.maximum.accumulate(idx, axis=1))


def segment(score: FloatArray, k_alert: float, k_onset: float, rearm: int) -> Alerts:
    """Alerts and onsets for a (n_series, n_points) score matrix."""
    total = score.shape[1]
    if total == 0:
        empty = np.zeros(score.shape, dtype=np.int32)
        return Alerts(alert=np.zeros(score.shape, dtype=bool), onset=empty,
                      excursion_start=empty, state=empty.astype(np.int8))
    seen = ~np.isnan(score)
    with np.errstate(invalid="ignore"):
        raw = (score >= k_onset).astype(np.int8) - (score <= -k_onset).astype(np.int8)
    # Carry the last observed state across gaps; before the first score the state is calm.
    last_seen = _last_index_where(seen)
    state = np.take_along_axis(raw, np.maximum(last_seen, 0), axis=1)
    state[last_seen < 0] = 0
    active = state != 0
    positions = np.arange(total, dtype=np.int32)[None, :]
    last_active = _last_index_where(active)
    # An excursion starts at an active point after at least `rearm` calm points.
    # Before the first active point a series counts as calm for as long as needed.
    calm_before = np.where(last_active[:, :-1] >= 0, positions[:, :-1] - last_active[:, :-1],
                           rearm)
    starts = active.copy()
    starts[:, 1:] &= calm_before >= rearm
    exc_start = _last_index_where(starts)
    # Onset: the first point of the current same-sign run.
    changed = np.empty_like(active)
    changed[:, 0] = active[:, 0]
    np.not_equal(state[:, 1:], state[:, :-1], out=changed[:, 1:])
    onset = _last_index_where(changed)
    with np.errstate(invalid="ignore"):
        alertable = active & seen & (np.abs(score) >= k_alert)
    # The first alertable point of each excursion: no alertable point since its start.
    last_alertable = _last_index_where(alertable)
    prev_alertable = np.full_like(last_alertable, -1)
    prev_alertable[:, 1:] = last_alertable[:, :-1]
    alert = alertable & (exc_start >= 0) & (prev_alertable < exc_start)
    return Alerts(alert=alert, onset=onset, excursion_start=exc_start, state=state)
