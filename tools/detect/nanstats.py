"""Medians and robust scales over the last axis, ignoring NaN, for many rows at once.

``np.nanmedian`` is several times slower than one ``np.sort`` (which puts NaN last), and
these run once per block over every series, so they are built on a single sort.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

# 1.4826 * MAD estimates the standard deviation of Gaussian data.
MAD_TO_SIGMA = 1.4826


def _pick(ordered: FloatArray, frac: float, count: npt.NDArray[np.int64]) -> FloatArray:
    """Linear-interpolated quantile `frac` of rows whose first `count` entries are sorted."""
    pos = frac * np.maximum(count - 1, 0)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, np.maximum(count - 1, 0))
    weight = pos - lo
    low = np.take_along_axis(ordered, lo[..., None], axis=-1)[..., 0]
    high = np.take_along_axis(ordered, hi[..., None], axis=-1)[..., 0]
    return np.asarray(low + weight * (high - low))


def nanmedian(a: FloatArray) -> FloatArray:
    """Median over the last axis ignoring NaN; NaN where a row has no finite value."""
    return median_and_spread(a, spread=False)[0]


def median_and_spread(a: FloatArray, spread: bool = True) -> tuple[FloatArray, FloatArray]:
    """(median, IQR / 1.349) over the last axis ignoring NaN, from one sort.

    IQR / 1.349 estimates a Gaussian standard deviation; it is NaN for rows with fewer than
    three finite values, which say nothing about spread.
    """
    length = a.shape[-1]
    if length == 0:
        empty = np.full(a.shape[:-1], np.nan)
        return empty, empty.copy()
    ordered = np.sort(a, axis=-1)
    # Halve before adding: the sum of two huge values of one sign would overflow.
    med = ordered[..., (length - 1) // 2] / 2 + ordered[..., length // 2] / 2
    full = np.full(a.shape[:-1], length, dtype=np.int64)
    iqr = (_pick(ordered, 0.75, full) - _pick(ordered, 0.25, full)) / 1.349 if spread \
        else np.empty(0)
    has_nan = np.isnan(ordered[..., -1])  # NaN sorts last: a row has one iff it ends in one
    if has_nan.any():
        rows = ordered[has_nan]
        count = np.count_nonzero(~np.isnan(rows), axis=-1)
        pick = np.arange(rows.shape[0])
        low = rows[pick, np.maximum((count - 1) // 2, 0)]
        high = rows[pick, np.maximum(count // 2, 0)]
        med[has_nan] = np.where(count > 0, low / 2 + high / 2, np.nan)
        if spread:
            sub = (_pick(rows, 0.75, count) - _pick(rows, 0.25, count)) / 1.349
            iqr[has_nan] = np.where(count >= 3, sub, np.nan)
    if spread and length < 3:
        iqr = np.full(med.shape, np.nan)
    return np.asarray(med), np.asarray(iqr)


def trimmed_mean(a: FloatArray) -> FloatArray:
    """Mean of the middle half of each row's finite values (over the last axis).

    Nearly as efficient as the mean on Gaussian noise (the median wastes a third of the
    data) while a quarter of the values at either end may be outliers. Rows with three
    values or fewer fall back to the median; NaN where a row has no finite value.
    """
    length = a.shape[-1]
    if length == 0:
        return np.full(a.shape[:-1], np.nan)
    ordered = np.sort(a, axis=-1)
    count = np.count_nonzero(~np.isnan(a), axis=-1)
    trim = np.maximum(count // 4, 1)
    # Shrink to a safe range before summing so that huge magnitudes cannot overflow.
    big = np.nanmax(np.abs(np.where(np.isnan(ordered), 0.0, ordered)), axis=-1, initial=0.0)
    scale = np.where(big > 1e100, big, 1.0)
    csum = np.cumsum(np.where(np.isnan(ordered), 0.0, ordered / scale[..., None]), axis=-1)
    csum = np.concatenate([np.zeros(csum.shape[:-1] + (1,)), csum], axis=-1)
    hi = np.maximum(count - trim, 0)
    lo = np.minimum(trim, hi)
    total = (np.take_along_axis(csum, hi[..., None], axis=-1)
             - np.take_along_axis(csum, lo[..., None], axis=-1))[..., 0]
    kept = hi - lo
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / kept * scale
    return np.where(count > 3, mean, nanmedian(a))


def robust_scale(a: FloatArray) -> tuple[FloatArray, FloatArray, npt.NDArray[np.int64]]:
    """(median, 1.4826 * MAD, finite count) over the last axis, ignoring NaN."""
    med = nanmedian(a)
    mad = nanmedian(np.abs(a - med[..., None]))
    count = np.count_nonzero(~np.isnan(a), axis=-1).astype(np.int64)
    return med, MAD_TO_SIGMA * mad, count
