"""The causal, robust, seasonal baseline: expected value, scale and score for every point.

Three baselines compete per series:

* ``level``: the median of the preceding ``level_window_points`` points;
* ``hour_of_day``: the median of the same phase over the last ``daily_seasons`` days, plus
  a level offset (the median recent departure from that profile), used from two days on;
* ``hour_of_week``: the same over the last ``weekly_seasons`` weeks, from two weeks on.

Seasonal phases are lags in points (a day is 86400 / step points), so the step must divide
a day. At each refit the model with the smallest mean absolute residual over the scale
window is used (a more complex one must win by ``_COMPLEXITY_GAIN``), and its robust scale
is ``1.4826 * median |residual|`` (residuals about zero, so a biased model gets a wider band).

Causality: the series is processed in blocks of ``block_points``. Every quantity a point's
score uses comes from points strictly before it. Points scoring at least ``k_train`` are
removed from the training copy at the end of their block, so a past anomaly never shapes
later baselines, unless the excursion lasts ``accept_after_seconds``: then it is accepted as
the new normal and its points re-enter training. Inside one block the level median still
sees the block's earlier raw points (a median shrugs off a few outliers).

All work is vectorised across series; the Python loop runs once per block, not per point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from tools.detect.config import DAY, WEEK, DetectorConfig
from tools.detect.nanstats import MAD_TO_SIGMA, median_and_spread, nanmedian

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

LEVEL, DAILY, WEEKLY = 0, 1, 2
MODEL_NAMES = ("level", "hour_of_day", "hour_of_week")
NO_MODEL = -1
NEVER = np.iinfo(np.int64).max
# A seasonal model must cut the mean absolute residual by this factor to replace a simpler
# one: equal fits should keep the model with fewer moving parts.
_COMPLEXITY_GAIN = 0.9
# Mean absolute deviation of a Gaussian is 0.798 sigma.
_MEAN_ABS_TO_SIGMA = 1.2533
_FRESH_LEVEL = False
_LOCAL_WEIGHT = 1.0
_NEIGHBOURS = 1


@dataclass(frozen=True, slots=True)
class Plan:
    """The config in points for one sampling step."""

    step_s: int
    day: int  # points per day, 0 when the step does not divide a day into >= 2 points
    week: int
    block: int
    refit: int
    level_window: int
    scale_window: int
    warmup: int
    accept_after: int
    rearm: int
    daily_seasons: int
    weekly_seasons: int

    @classmethod
    def make(cls, cfg: DetectorConfig, step_s: int) -> Plan:
        day = DAY // step_s if DAY % step_s == 0 and DAY // step_s >= 2 else 0
        week = 7 * day if day else 0
        block = max(1, cfg.block_points)
        if day:
            block = min(block, day)  # seasonal lags must reach back past the whole block
        refit = -(-cfg.points(cfg.refit_seconds, step_s) // block) * block
        return cls(
            step_s=step_s,
            day=day,
            week=week,
            block=block,
            refit=refit,
            level_window=cfg.level_window_points,
            scale_window=max(cfg.points(cfg.scale_window_seconds, step_s), cfg.min_scale_points),
            warmup=max(cfg.min_history_points, cfg.points(cfg.warmup_seconds, step_s)),
            accept_after=cfg.points(cfg.accept_after_seconds, step_s),
            rearm=max(cfg.min_rearm_points, cfg.points(cfg.rearm_seconds, step_s)),
            daily_seasons=cfg.daily_seasons,
            weekly_seasons=cfg.weekly_seasons,
        )

    def period(self, model: int) -> int:
        return {LEVEL: 0, DAILY: self.day, WEEKLY: self.week}[model]

    def seasons(self, model: int) -> int:
        return {LEVEL: 0, DAILY: self.daily_seasons, WEEKLY: self.weekly_seasons}[model]

    def usable(self, model: int, start: int) -> bool:
        """Level from the start; a seasonal profile once two full seasons are behind."""
        period = self.period(model)
        return model == LEVEL or (period > 0 and start >= 2 * period)


@dataclass(slots=True)
class BaselineFit:
    """Per-point arrays (n_series, n_points); NaN / NO_MODEL where nothing was scored."""

    plan: Plan
    expected: FloatArray
    sigma: FloatArray  # effective scale: robust scale raised to the change floor
    score: FloatArray
    model: npt.NDArray[np.int8]
    excluded: BoolArray  # was ever kept out of training
    released_at: npt.NDArray[np.int64]  # block start from which it re-entered, NEVER if not
    refit_starts: npt.NDArray[np.int64]


def _level_expectation(train: FloatArray, pad: int, s: int, e: int, m: int) -> FloatArray:
    """Median of the m points before each point of [s, e); needs a quarter of them present."""
    if _FRESH_LEVEL:
        windows = sliding_window_view(train[:, pad + s - m : pad + e - 1], m, axis=1)
    else:
        windows = train[:, None, pad + s - m : pad + s]
    med = nanmedian(windows)
    enough = np.count_nonzero(~np.isnan(windows), axis=-1) >= max(1, m // 4)
    out = np.where(enough, med, np.nan)
    return np.broadcast_to(out, (train.shape[0], e - s))


def _seasonal_profile(train: FloatArray, raw: FloatArray, pad: int, s: int, e: int,
                      period: int, seasons: int) -> tuple[FloatArray, FloatArray]:
    """(profile, spread) for each point of [s, e).

    The profile is the median of the same phase over the last `seasons` periods. Excluded
    points are left out, unless more than half of a phase's lags were excluded: a departure
    that keeps recurring at one phase is part of the pattern (a weekend peak seen under the
    hour-of-day model, say), so the raw values are used there.

    The spread (a Gaussian sigma from the IQR) pools the raw values at the phase and its two
    neighbours over the same periods: enough samples to tell a noisy phase from a quiet one,
    and raw because excluding a noisy phase's extremes would make it look quiet.
    """
    t = np.arange(s, e)
    idx = t[:, None] - period * np.arange(1, seasons + 1)[None, :]
    cols = np.where(idx >= 0, idx + pad, 0)  # column 0 is padding: NaN
    lags = train[:, cols]  # (n, c, seasons)
    raw_lags = raw[:, cols]
    kept = np.count_nonzero(~np.isnan(lags), axis=-1)
    present = np.count_nonzero(~np.isnan(raw_lags), axis=-1)
    recurring = 2 * kept < present
    if recurring.any():
        lags = np.where(recurring[..., None], raw_lags, lags)
    near = np.concatenate([idx - _NEIGHBOURS, idx, idx + _NEIGHBOURS], axis=1)
    near_cols = np.where((near >= 0) & (near < s), near + pad, 0)
    _, spread = median_and_spread(raw[:, near_cols])
    return nanmedian(lags), spread


def fit_baseline(values: FloatArray, step_s: int, cfg: DetectorConfig) -> BaselineFit:
    """Score every point of every row of ``values`` (n_series, n_points) causally."""
    plan = Plan.make(cfg, step_s)
    n, total = values.shape
    m, pad = plan.level_window, plan.level_window
    train = np.full((n, total + pad), np.nan)
    train[:, pad:] = values
    raw = train.copy()
    finite = ~np.isnan(values)
    # Each model's expectation, and each seasonal model's profile before its level offset:
    # residuals of training points come out of `train - stored`, already masked.
    model_exp = np.full((3, n, total), np.nan)
    profiles = np.full((2, n, total), np.nan)  # hour_of_day, hour_of_week
    excluded_now = np.zeros((n, total), dtype=bool)
    released_at = np.full((n, total), NEVER, dtype=np.int64)
    expected = np.full((n, total), np.nan)
    sigma = np.full((n, total), np.nan)
    score = np.full((n, total), np.nan)
    model = np.full((n, total), NO_MODEL, dtype=np.int8)
    chosen = np.full(n, NO_MODEL, dtype=np.int64)
    model_sigma = np.full((3, n), np.nan)
    run_start = np.zeros(n, dtype=np.int64)
    refits: list[int] = []
    next_refit = plan.warmup
    rows = np.arange(n)
    floor_abs = cfg.min_abs_change / cfg.k_alert
    floor_rel = cfg.min_rel_change / cfg.k_alert

    for s in range(0, total, plan.block):
        e = min(total, s + plan.block)
        obs = values[:, s:e]
        exp_all = np.full((3, n, e - s), np.nan)
        local_sigma = np.full((3, n, e - s), np.nan)
        exp_all[LEVEL] = _level_expectation(train, pad, s, e, m)
        for mdl in (DAILY, WEEKLY):
            period = plan.period(mdl)
            if period == 0 or s < period:
                continue
            prof, spread = _seasonal_profile(train, raw, pad, s, e, period, plan.seasons(mdl))
            local_sigma[mdl] = spread
            lo = max(0, s - m)
            with np.errstate(over="ignore", invalid="ignore"):
                recent = train[:, pad + lo : pad + s] - profiles[mdl - 1, :, lo:s]
            offset = np.nan_to_num(nanmedian(recent), nan=0.0)
            exp_all[mdl] = prof + offset[:, None]
            profiles[mdl - 1, :, s:e] = prof
        model_exp[:, :, s:e] = exp_all

        if s >= next_refit:
            chosen, model_sigma = _refit(train, pad, model_exp, plan, cfg, s)
            refits.append(s)
            next_refit = s + plan.refit
        if s < plan.warmup or not refits:
            continue

        pick = np.maximum(chosen, 0)
        exp = exp_all[pick, rows]
        # Noise can differ by phase (a quiet night, a busy day): the band is the wider of
        # the model's overall scale and the spread of this phase's own history.
        sig = np.fmax(model_sigma[pick, rows][:, None], _LOCAL_WEIGHT * local_sigma[pick, rows])
        fallback = np.isnan(exp) & ~np.isnan(exp_all[LEVEL])
        exp = np.where(fallback, exp_all[LEVEL], exp)
        sig = np.where(fallback, model_sigma[LEVEL][:, None], sig)
        mdl_used = np.where(fallback, LEVEL, pick[:, None])
        none = (chosen == NO_MODEL)[:, None] | np.isnan(exp)
        magnitude = np.abs(exp)
        floor = np.maximum(floor_abs, floor_rel * magnitude)
        floor = np.maximum(floor, 1e-12 + 1e-9 * magnitude)  # never divide by zero
        sig_eff = np.maximum(sig, floor)
        with np.errstate(invalid="ignore"):
            z = np.where(none, np.nan, (obs - exp) / sig_eff)
        expected[:, s:e] = np.where(none, np.nan, exp)
        sigma[:, s:e] = np.where(none, np.nan, sig_eff)
        score[:, s:e] = z
        model[:, s:e] = np.where(none, NO_MODEL, mdl_used)

        with np.errstate(invalid="ignore"):
            flagged = np.abs(z) >= cfg.k_train
        excluded_now[:, s:e] |= flagged
        train[:, pad + s : pad + e][flagged] = np.nan
        _accept_long_excursions(values, train, pad, excluded_now, released_at, run_start,
                                finite[:, s:e] & ~flagged, s, e, plan.accept_after)

    return BaselineFit(
        plan=plan,
        expected=expected,
        sigma=sigma,
        score=score,
        model=model,
        excluded=excluded_now | (released_at != NEVER),
        released_at=released_at,
        refit_starts=np.asarray(refits, dtype=np.int64),
    )


def _refit(train: FloatArray, pad: int, model_exp: FloatArray, plan: Plan,
           cfg: DetectorConfig, s: int) -> tuple[npt.NDArray[np.int64], FloatArray]:
    """Choose each series' model and its scale from residuals in the scale window."""
    lo = max(0, s - plan.scale_window)
    with np.errstate(over="ignore", invalid="ignore"):
        window = train[None, :, pad + lo : pad + s] - model_exp[:, :, lo:s]
    np.abs(window, out=window)
    missing = np.isnan(window)
    count = window.shape[-1] - np.count_nonzero(missing, axis=-1)
    mean_abs = np.add.reduce(window, axis=-1, where=~missing) / np.maximum(count, 1)
    usable = np.array([plan.usable(mdl, s) for mdl in (LEVEL, DAILY, WEEKLY)])[:, None]
    eligible = usable & (count >= cfg.min_scale_points)
    penalty = np.array([1.0, 1 / _COMPLEXITY_GAIN, 1 / _COMPLEXITY_GAIN**2])[:, None]
    crit = np.where(eligible, mean_abs * penalty, np.inf)
    chosen = np.argmin(crit, axis=0).astype(np.int64)
    chosen[~np.isfinite(crit.min(axis=0))] = NO_MODEL
    # The scale is needed for the chosen model and for the level fallback only.
    sig = np.full(crit.shape, np.nan)
    rows = np.arange(chosen.size)
    sig[LEVEL] = MAD_TO_SIGMA * nanmedian(window[LEVEL])
    seasonal = chosen > LEVEL
    if seasonal.any():
        picked = window[chosen[seasonal], rows[seasonal]]
        sig[chosen[seasonal], rows[seasonal]] = MAD_TO_SIGMA * nanmedian(picked)
    return chosen, sig


def _accept_long_excursions(values: FloatArray, train: FloatArray, pad: int,
                            excluded_now: BoolArray, released_at: npt.NDArray[np.int64],
                            run_start: npt.NDArray[np.int64], normal: BoolArray, s: int,
                            e: int, accept_after: int) -> None:
    """Return excursions longer than accept_after to training: they are the new normal."""
    has_normal = normal.any(axis=1)
    last_normal = normal.shape[1] - 1 - np.argmax(normal[:, ::-1], axis=1)
    run_start[has_normal] = s + last_normal[has_normal] + 1
    accept = np.nonzero(e - run_start >= accept_after)[0]
    if accept.size == 0:
        return
    lo = int(run_start[accept].min())
    cols = np.arange(lo, e)
    in_run = cols[None, :] >= run_start[accept][:, None]
    release = excluded_now[accept, lo:e] & in_run
    if release.any():
        sub_rows, sub_cols = np.nonzero(release)
        r, c = accept[sub_rows], sub_cols + lo
        excluded_now[r, c] = False
        released_at[r, c] = e
        train[r, c + pad] = values[r, c]
    run_start[accept] = e
