"""Irregular (timestamp, value) rows -> values on a regular time grid.

What is done, each reported as an issue: rows with unusable timestamps are dropped;
non-finite values (and magnitudes beyond ``MAX_ABS``, where differences could overflow)
become gaps; rows are sorted; rows sharing a timestamp, or snapping to the same grid slot,
are merged by the config's duplicate policy (mean of the finite values by default, or the
last finite value); grid slots with no row stay NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tools.detect import diagnostics as dx
from tools.detect.diagnostics import DetectInputError, SeriesDiagnostics

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Values beyond this are treated as corrupt: real telemetry never gets near it, and it keeps
# every difference and ratio the detector computes finite.
MAX_ABS = 1e150


@dataclass(frozen=True, slots=True)
class Grid:
    """Values at start_s + i * step_s (epoch seconds); NaN where nothing was observed."""

    start_s: int
    step_s: int
    values: FloatArray

    @property
    def timestamps(self) -> IntArray:
        return self.start_s + self.step_s * np.arange(self.values.size, dtype=np.int64)


def to_epoch_seconds(ts: npt.ArrayLike) -> tuple[IntArray, npt.NDArray[np.bool_]]:
    """datetime64 / integer / float seconds -> (int64 seconds, which rows were usable)."""
    arr = np.asarray(ts)
    if arr.ndim != 1:
        raise DetectInputError(f"timestamps must be 1-D, got shape {arr.shape}")
    if np.issubdtype(arr.dtype, np.datetime64):
        ok = ~np.isnat(arr)
        secs = arr.astype("datetime64[s]").astype(np.int64)
    elif np.issubdtype(arr.dtype, np.integer):
        ok = np.ones(arr.shape, dtype=bool)
        secs = arr.astype(np.int64)
    elif np.issubdtype(arr.dtype, np.floating):
        # Float seconds beyond int64 range are unusable, like NaN.
        ok = np.isfinite(arr) & (np.abs(arr) < 9e18)
        secs = np.where(ok, np.rint(np.where(ok, arr, 0.0)), 0).astype(np.int64)
    else:
        raise DetectInputError(
            f"timestamps must be datetime64, integer or float epoch seconds, not {arr.dtype}"
        )
    return np.where(ok, secs, 0), ok


def clean_values(values: npt.ArrayLike, diag: SeriesDiagnostics) -> FloatArray:
    """Float copy with non-finite and absurd magnitudes turned into NaN (reported)."""
    try:
        arr = np.array(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DetectInputError(f"values must be numeric: {exc}") from None
    nonfinite = ~np.isfinite(arr)
    n_inf = int(np.isinf(arr).sum())
    if n_inf:
        diag.add(dx.NON_FINITE, f"{n_inf} infinite value(s) treated as missing", n_inf)
    huge = ~nonfinite & (np.abs(np.where(nonfinite, 0.0, arr)) > MAX_ABS)
    n_huge = int(huge.sum())
    if n_huge:
        diag.add(dx.OUT_OF_RANGE, f"{n_huge} value(s) beyond ±{MAX_ABS:g} treated as missing",
                 n_huge)
    arr[nonfinite | huge] = np.nan
    return arr


def infer_step(secs: IntArray) -> int:
    """The median spacing of distinct timestamps: robust to a few gaps or jittered rows."""
    diffs = np.diff(np.unique(secs))
    if diffs.size == 0:
        return 1
    return max(1, int(np.rint(np.median(diffs))))


def _merge(bins: IntArray, vals: FloatArray, policy: str) -> tuple[IntArray, FloatArray]:
    """One value per distinct bin (bins sorted ascending); NaN rows only if nothing better."""
    slots, first = np.unique(bins, return_index=True)
    if slots.size == bins.size:
        return slots, vals
    finite = np.isfinite(vals)
    which = np.searchsorted(slots, bins)
    if policy == "mean":
        sums = np.bincount(which, weights=np.where(finite, vals, 0.0), minlength=slots.size)
        counts = np.bincount(which, weights=finite.astype(np.float64), minlength=slots.size)
        with np.errstate(invalid="ignore", divide="ignore"):
            merged = np.where(counts > 0, sums / np.maximum(counts, 1.0), np.nan)
        return slots, merged
    # "last": the latest finite row in each slot (rows are time-sorted, stable).
    merged = vals[first].copy()
    order = np.nonzero(finite)[0]
    merged[which[order]] = vals[order]  # later rows overwrite earlier ones
    return slots, merged


def regularise(
    ts: npt.ArrayLike,
    values: npt.ArrayLike,
    diag: SeriesDiagnostics,
    *,
    step_s: int | None = None,
    duplicate_policy: str = "mean",
    max_points: int = 5_000_000,
) -> Grid:
    """Rows -> Grid. Problems are added to ``diag``; an unusable series gives an empty grid."""
    secs, ok = to_epoch_seconds(ts)
    vals = clean_values(values, diag)
    if vals.ndim != 1:
        raise DetectInputError(f"values must be 1-D, got shape {vals.shape}")
    if vals.size != secs.size:
        raise DetectInputError(
            f"timestamps and values differ in length ({secs.size} vs {vals.size})"
        )
    if step_s is not None and (not isinstance(step_s, int | np.integer) or step_s <= 0):
        raise DetectInputError(f"step_s must be a positive whole number of seconds, not {step_s!r}")
    n_bad = int((~ok).sum())
    if n_bad:
        diag.add(dx.BAD_TIMESTAMPS, f"{n_bad} row(s) with a missing timestamp dropped", n_bad)
        secs, vals = secs[ok], vals[ok]
    if secs.size == 0:
        diag.add(dx.EMPTY, "no rows: nothing to score")
        return Grid(0, step_s or 1, np.empty(0))
    if np.any(np.diff(secs) < 0):
        diag.add(dx.UNSORTED, "rows were not in time order; sorted them")
        order = np.argsort(secs, kind="stable")
        secs, vals = secs[order], vals[order]
    n_dup = int(secs.size - np.unique(secs).size)
    if n_dup:
        diag.add(dx.DUPLICATES,
                 f"{n_dup} row(s) repeat an earlier timestamp; merged by {duplicate_policy}",
                 n_dup)
    step = int(step_s) if step_s is not None else infer_step(secs)
    start = int(secs[0])
    span = (int(secs[-1]) - start) // step + 1
    if span > max_points:
        diag.add(dx.GRID_TOO_LARGE,
                 f"timestamps span {span} steps of {step}s, over the limit of {max_points}")
        return Grid(start, step, np.empty(0))
    offsets = secs - start
    off_grid = int(np.count_nonzero(offsets % step))
    bins = np.floor_divide(offsets + step // 2, step)
    slots, merged = _merge(bins, vals, duplicate_policy)
    n_collide = int(np.unique(secs).size - slots.size)
    if off_grid:
        diag.add(dx.OFF_GRID,
                 f"{off_grid} row(s) off the {step}s grid snapped to the nearest slot"
                 + (f"; {n_collide} shared a slot and were merged by {duplicate_policy}"
                    if n_collide else ""),
                 off_grid)
    grid = np.full(int(slots[-1]) + 1, np.nan)
    grid[slots] = merged
    n_gaps = int(grid.size - slots.size)
    if n_gaps:
        diag.add(dx.GAPS, f"{n_gaps} grid slot(s) with no row left as gaps (NaN)", n_gaps)
    return Grid(start, step, grid)
