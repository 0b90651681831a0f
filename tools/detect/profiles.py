"""The pieces of the baseline, each computed for many series and points at once.

Every function reads only columns before ``s`` (the start of the points it serves), which
is what keeps the detector causal. ``train`` is the training copy (excluded points NaN),
``raw`` the same values with nothing excluded; both carry ``pad`` NaN columns on the left
so that column ``pad + i`` is point ``i``.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from tools.detect.nanstats import MAD_TO_SIGMA, nanmedian, trimmed_mean

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Mean absolute deviation of a Gaussian is sigma / 1.2533.
MEAN_ABS_TO_SIGMA = 1.2533
# Residuals are clipped at this many model sigmas before they enter a phase's spread, so
# one anomaly moves it little while a genuinely noisy phase still stands out.
LOCAL_CLIP = 4.0
# Cap on elements gathered at once (series x points x lags), to bound memory.
_GATHER_BUDGET = 4_000_000


def level(train: FloatArray, pad: int, s: int, window: int) -> FloatArray:
    """Median of the `window` training points before s; needs a quarter of them present."""
    recent = train[:, pad + s - window : pad + s]
    enough = np.count_nonzero(~np.isnan(recent), axis=1) >= max(1, window // 4)
    return np.where(enough, nanmedian(recent), np.nan)


def _lag_columns(s: int, e: int, period: int, seasons: int, pad: int) -> IntArray:
    """(e - s, seasons) columns of the same phase 1..seasons periods back; 0 (a NaN pad
    column) where that lies before the series or at or after s."""
    t = np.arange(s, e)
    idx = t[:, None] - period * np.arange(1, seasons + 1)[None, :]
    return np.where((idx >= 0) & (idx < s), idx + pad, 0)


def _chunks(n: int, s: int, e: int, width: int) -> list[tuple[int, int]]:
    step = max(1, _GATHER_BUDGET // max(1, n * width))
    return [(lo, min(e, lo + step)) for lo in range(s, e, step)]


def seasonal_profile(train: FloatArray, raw: FloatArray, pad: int, s: int, e: int,
                     period: int, seasons: int) -> FloatArray:
    """For each point of [s, e): the trimmed mean of the same phase over the last `seasons`
    periods, as of time s.

    Excluded points are left out, unless more than half of a phase's lags were excluded:
    a departure that keeps recurring at one phase is part of the pattern (a weekend peak
    judged by the hour-of-day model, say), so the raw values are used there.
    """
    out = np.empty((train.shape[0], e - s))
    for lo, hi in _chunks(train.shape[0], s, e, seasons):
        cols = _lag_columns(lo, hi, period, seasons, pad)
        cols[cols >= pad + s] = 0
        lags = train[:, cols]  # (n, points, seasons)
        raw_lags = raw[:, cols]
        kept = np.count_nonzero(~np.isnan(lags), axis=-1)
        present = np.count_nonzero(~np.isnan(raw_lags), axis=-1)
        recurring = 2 * kept < present
        if recurring.any():
            lags = np.where(recurring[..., None], raw_lags, lags)
        out[:, lo - s : hi - s] = trimmed_mean(lags)
    return out


def phase_spread(raw: FloatArray, past_exp: FloatArray, pad: int, s: int, e: int,
                 period: int, seasons: int, clip: FloatArray) -> FloatArray:
    """For each point of [s, e): a sigma for its phase from the model's past residuals at
    that phase and its two neighbours over the last `seasons` periods.

    Noise often differs by phase (a quiet night, a busy afternoon); a single scale per
    series would alert all day long in the busy phase. Residuals rather than values, so a
    steep daily ramp does not count as noise; raw (nothing excluded), because excluding a
    noisy phase's extremes would make it look quiet; clipped at LOCAL_CLIP model sigmas so
    that a past anomaly barely widens the band.
    """
    n = raw.shape[0]
    first = max(0, s - seasons * period - 1)
    if first >= s:
        return np.full((n, e - s), np.nan)
    cap = np.where(np.isnan(clip), np.inf, LOCAL_CLIP * clip)  # no model sigma yet: no cap
    with np.errstate(over="ignore", invalid="ignore"):
        res = np.minimum(np.abs(raw[:, pad + first : pad + s] - past_exp[:, first:s]),
                         cap[:, None])
    seen = ~np.isnan(res)
    vals = np.where(seen, res, 0.0)
    # Sum over each point and its neighbours, then over the same phase in earlier periods.
    zero = np.zeros((n, 1))
    vals = np.concatenate([zero, vals, zero], axis=1)
    cnts = np.concatenate([zero, seen.astype(np.float64), zero], axis=1)
    near_sum = vals[:, :-2] + vals[:, 1:-1] + vals[:, 2:]
    near_cnt = cnts[:, :-2] + cnts[:, 1:-1] + cnts[:, 2:]
    total = np.zeros((n, e - s))
    count = np.zeros((n, e - s))
    t = np.arange(s, e)
    for k in range(1, seasons + 1):
        idx = t - k * period - first
        ok = (idx >= 0) & (idx < s - first)
        cols = np.where(ok, idx, 0)
        total += np.where(ok, near_sum[:, cols], 0.0)
        count += np.where(ok, near_cnt[:, cols], 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count >= 3, MEAN_ABS_TO_SIGMA * total / count, np.nan)


def tail_sigma(abs_res: FloatArray, frac: float) -> FloatArray:
    """A Gaussian sigma from the (1 - frac) quantile of each row's |residual|, NaN-aware."""
    ordered = np.sort(abs_res, axis=-1)
    count = np.count_nonzero(~np.isnan(abs_res), axis=-1)
    pos = np.clip(np.ceil((1 - frac) * count).astype(np.int64) - 1, 0, None)
    value = np.take_along_axis(ordered, pos[:, None], axis=-1)[:, 0]
    z = NormalDist().inv_cdf(1 - frac / 2)
    return np.where(count >= 3, value / z, np.nan)


def residual_stats(train: FloatArray, pad: int, model_exp: FloatArray, lo: int, s: int
                   ) -> tuple[FloatArray, IntArray, FloatArray]:
    """(|training residual| window, count, mean |residual|) per model over [lo, s)."""
    with np.errstate(over="ignore", invalid="ignore"):
        window = train[None, :, pad + lo : pad + s] - model_exp[:, :, lo:s]
    np.abs(window, out=window)
    missing = np.isnan(window)
    count = window.shape[-1] - np.count_nonzero(missing, axis=-1)
    mean_abs = np.add.reduce(window, axis=-1, where=~missing) / np.maximum(count, 1)
    return window, count.astype(np.int64), mean_abs


def robust_sigma(abs_window: FloatArray) -> FloatArray:
    """1.4826 * median |residual| (about zero: a biased model gets a wider band)."""
    return MAD_TO_SIGMA * nanmedian(abs_window)
