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
# The upper quantile behind robust_sigma's heavy-tail guard, and its Gaussian z.
_UPPER_Q = 0.99
_UPPER_Z = NormalDist().inv_cdf(0.5 + _UPPER_Q / 2)
# Stored clipped residuals are float32: this bound keeps a sum of a few dozen finite.
CLIPPED_MAX = 1e30
# Cap on elements gathered at once (series x points x lags), to bound memory.
_GATHER_BUDGET = 4_000_000


def level(train: FloatArray, pad: int, s: int, window: int) -> FloatArray:
    """Median of the `window` training points before s; needs a quarter of them present."""
    recent = train[:, pad + s - window : pad + s]
    enough = np.count_nonzero(~np.isnan(recent), axis=1) >= max(1, window // 4)
    return np.where(enough, nanmedian(recent), np.nan)


def _lag_columns(lo: int, hi: int, period: int, seasons: int, s: int, pad: int
                 ) -> IntArray:
    """(hi - lo, seasons) columns of the same phase 1..seasons periods back; 0 (a NaN pad
    column) where that lies before the series or at or after s."""
    t = np.arange(lo, hi)
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
    # Lags before the start of the series are missing for every series alike: leave them
    # out rather than carry NaN through the trimmed mean's slow path.
    seasons = max(1, min(seasons, s // period))
    out = np.empty((train.shape[0], e - s))
    for lo, hi in _chunks(train.shape[0], s, e, seasons):
        cols = _lag_columns(lo, hi, period, seasons, s, pad)
        lags = train[:, cols]  # (n, points, seasons)
        kept = np.count_nonzero(~np.isnan(lags), axis=-1)
        # Only where fewer than half of the lags that exist were kept can raw values
        # outnumber them: gather those alone.
        maybe = 2 * kept < np.count_nonzero(cols > 0, axis=-1)[None, :]
        if maybe.any():
            row, point = np.nonzero(maybe)
            raw_lags = raw[row[:, None], cols[point]]
            present = np.count_nonzero(~np.isnan(raw_lags), axis=-1)
            recurring = 2 * kept[row, point] < present
            lags[row[recurring], point[recurring]] = raw_lags[recurring]
        out[:, lo - s : hi - s] = trimmed_mean(lags)
    return out


def phase_spread(clipped: npt.NDArray[np.float32], seen: npt.NDArray[np.float32], s: int,
                 e: int, period: int, seasons: int) -> FloatArray:
    """For each point of [s, e): a sigma for its phase, from the model's past residuals at
    that phase and its two neighbours over the last `seasons` periods, as of time s.

    Noise often differs by phase (a quiet night, a busy afternoon); a single scale per
    series would alert all day long in the busy phase. Residuals rather than values, so a
    steep daily ramp does not count as noise; of raw values (nothing excluded), because
    excluding a noisy phase's extremes would make it look quiet; each already clipped at
    LOCAL_CLIP model sigmas (``clipped``), so a past anomaly barely widens the band and
    the mean of them needs no sort.
    """
    n = clipped.shape[0]
    # float32 is ample for a sum of a few dozen clipped residuals, and halves the traffic.
    total = np.zeros((n, e - s), dtype=np.float32)
    count = np.zeros((n, e - s), dtype=np.float32)
    for k in range(1, seasons + 1):
        # Points s-kP-1 .. e-kP hold the lags of [s, e) and their neighbours.
        lo, hi = s - k * period - 1, e - k * period + 1
        a, b = max(lo, 0), min(hi, s)
        if a >= b:
            continue
        vals = np.zeros((n, hi - lo), dtype=np.float32)
        cnts = np.zeros((n, hi - lo), dtype=np.float32)
        vals[:, a - lo : b - lo] = clipped[:, a:b]
        cnts[:, a - lo : b - lo] = seen[:, a:b]
        total += vals[:, :-2] + vals[:, 1:-1] + vals[:, 2:]
        count += cnts[:, :-2] + cnts[:, 1:-1] + cnts[:, 2:]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        mean = total.astype(np.float64) / count
    return np.where(count >= 3, MEAN_ABS_TO_SIGMA * mean, np.nan)


def tail_sigma(abs_res: FloatArray, episode: int, episodes: int) -> FloatArray:
    """A Gaussian sigma from the largest |residual| of each `episode`-point stretch: the
    `episodes`-th largest of those maxima over the window, scaled so that Gaussian noise
    gives back its sigma.

    Stretches, not points: one six-hour outage is one episode however many points it
    spans, so it does not widen the band, while the same kind of spike seen in several
    separate stretches becomes part of the series' normal range. NaN (no tail term) when
    the window has no more stretches than `episodes`.
    """
    n, width = abs_res.shape
    stretches = -(-width // episode)
    if stretches <= episodes:
        return np.full(n, np.nan)
    padded = np.full((n, stretches * episode), np.nan)
    padded[:, stretches * episode - width :] = abs_res  # align the last stretch to the end
    seen = ~np.isnan(padded).reshape(n, stretches, episode).all(axis=-1)
    peaks = np.where(seen, np.fmax.reduce(padded.reshape(n, stretches, episode), axis=-1),
                     np.nan)
    ordered = np.sort(peaks, axis=-1)
    count = np.count_nonzero(seen, axis=-1)
    value = ordered[np.arange(n), np.clip(count - episodes, 0, None)]
    # Gaussian noise: a stretch's peak exceeds z*sigma with probability episodes/stretches.
    share = episodes / stretches
    per_point = 1 - (1 - share) ** (1 / episode)
    z = NormalDist().inv_cdf(1 - per_point / 2)
    return np.where(count > episodes, value / z, np.nan)


def robust_sigma(abs_window: FloatArray) -> FloatArray:
    """The larger of 1.4826 * median |residual| and the _UPPER_Q quantile of |residual| over
    its Gaussian z (residuals about zero, so a biased model gets a wider band): equal on
    Gaussian noise, the second wider when the noise has heavier tails. Training residuals
    exclude flagged points, so anomalies do not reach either quantile."""
    n, width = abs_window.shape
    if width == 0:
        return np.full(n, np.nan)
    ordered = np.sort(abs_window, axis=-1)
    count = np.count_nonzero(~np.isnan(ordered), axis=-1)
    pick = np.arange(n)
    last = np.maximum(count - 1, 0)
    mid = (ordered[pick, last // 2] + ordered[pick, (last + 1) // 2]) / 2
    upper = ordered[pick, np.floor(_UPPER_Q * last).astype(np.int64)]
    sigma = np.fmax(MAD_TO_SIGMA * mid, upper / _UPPER_Z)
    return np.where(count > 0, sigma, np.nan)
