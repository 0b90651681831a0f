"""The causal, robust, seasonal baseline: expected value, scale and score for every point.

Three baselines compete per series:

* ``level``: the median of the ``level_window_points`` training points before the block;
* ``hour_of_day``: a trimmed mean of the same phase over the last ``daily_seasons`` days,
  plus a level offset (the median recent departure from that profile), used from two days;
* ``hour_of_week``: the same over the last ``weekly_seasons`` weeks, used from two weeks.

Seasonal phases are lags in points (a day is 86400 / step points), so the step must divide
a day. At each refit (daily) every series takes the model with the smallest mean absolute
residual over the scale window (a more complex one must win by ``COMPLEXITY_GAIN``). Its
sigma is the largest of: 1.4826 * median |residual| (about zero, so a biased model gets a
wider band); the tail quantile of recent |residual| (see ``tail_fraction``); the spread of
this phase's own residuals; and the minimum-change floor divided by ``k_alert``.

Causality: the series is processed in blocks of ``block_points`` points, and every quantity
a point's score uses comes from points before its block. Points scoring at least
``k_train`` are removed from the training copy at the end of their block, so a past anomaly
does not shape later baselines, unless the excursion lasts ``accept_after_seconds``: then
it is accepted as the new normal and its points re-enter training.

All work is vectorised across series; the Python loop runs once per block, not per point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tools.detect import profiles
from tools.detect.config import DAY, DetectorConfig

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

LEVEL, DAILY, WEEKLY = 0, 1, 2
MODELS = (LEVEL, DAILY, WEEKLY)
MODEL_NAMES = ("level", "hour_of_day", "hour_of_week")
NO_MODEL = -1
NEVER = np.iinfo(np.int64).max
# A seasonal model must cut the mean absolute residual by this factor to replace a simpler
# one: equal fits should keep the model with fewer moving parts.
COMPLEXITY_GAIN = 0.9


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
        block = max(1, cfg.block_points)
        refit = -(-cfg.points(cfg.refit_seconds, step_s) // block) * block
        if day:
            # Seasonal lags must reach back past the whole block, and a refit's profiles
            # for the coming interval may only use lags from before it.
            block = min(block, day)
            refit = min(-(-cfg.points(cfg.refit_seconds, step_s) // block) * block,
                        (day // block) * block)
        return cls(
            step_s=step_s,
            day=day,
            week=7 * day,
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
        return (0, self.day, self.week)[model]

    def seasons(self, model: int) -> int:
        return (0, self.daily_seasons, self.weekly_seasons)[model]

    def usable(self, model: int, start: int) -> bool:
        """Level from the start; a seasonal profile once two full seasons are behind."""
        period = self.period(model)
        return model == LEVEL or (period > 0 and start >= 2 * period)


@dataclass(slots=True)
class BaselineFit:
    """Per-point arrays (n_series, n_points); NaN / NO_MODEL where nothing was scored."""

    plan: Plan
    expected: FloatArray
    sigma: FloatArray  # effective scale; the band is expected ± k_alert * sigma
    score: FloatArray
    model: npt.NDArray[np.int8]
    excluded: BoolArray  # was kept out of training at some point
    released_at: IntArray  # block start from which it was back in training, NEVER if not
    refit_starts: IntArray


@dataclass(slots=True)
class _State:
    """The detector's memory while it walks through the blocks."""

    train: FloatArray
    raw: FloatArray
    pad: int
    model_exp: FloatArray  # (3, n, T) each model's expectation, NaN before it exists
    profiles: FloatArray  # (2, n, T) seasonal profile without its level offset
    spreads: FloatArray  # (2, n, T) phase sigma of each seasonal model
    excluded_now: BoolArray
    released_at: IntArray
    run_start: IntArray  # where each series' current run of excluded points began
    chosen: IntArray
    model_sigma: FloatArray  # (3, n)
    clip: FloatArray  # (3, n) model sigma from mean |residual|, caps the phase spreads

    @classmethod
    def start(cls, values: FloatArray, pad: int) -> _State:
        n, total = values.shape
        train = np.full((n, total + pad), np.nan)
        train[:, pad:] = values
        return cls(train=train, raw=train.copy(), pad=pad,
                   model_exp=np.full((3, n, total), np.nan),
                   profiles=np.full((2, n, total), np.nan),
                   spreads=np.full((2, n, total), np.nan),
                   excluded_now=np.zeros((n, total), dtype=bool),
                   released_at=np.full((n, total), NEVER, dtype=np.int64),
                   run_start=np.zeros(n, dtype=np.int64),
                   chosen=np.full(n, NO_MODEL, dtype=np.int64),
                   model_sigma=np.full((3, n), np.nan),
                   clip=np.full((3, n), np.nan))


def _window_stats(st: _State, plan: Plan, cfg: DetectorConfig, s: int
                  ) -> tuple[FloatArray, IntArray, FloatArray]:
    """Training residuals of every model over the scale window before s; sets the clip."""
    lo = max(0, s - plan.scale_window)
    window, count, mean_abs = profiles.residual_stats(st.train, st.pad, st.model_exp, lo, s)
    st.clip = np.where(count >= cfg.min_scale_points, profiles.MEAN_ABS_TO_SIGMA * mean_abs,
                       np.nan)
    return window, count, mean_abs


def _new_interval(st: _State, plan: Plan, s: int, e: int) -> None:
    """Seasonal profiles and phase spreads for the whole interval [s, e), as of time s."""
    for mdl in (DAILY, WEEKLY):
        period = plan.period(mdl)
        if period == 0 or s < period:
            continue
        seasons = plan.seasons(mdl)
        st.profiles[mdl - 1, :, s:e] = profiles.seasonal_profile(
            st.train, st.raw, st.pad, s, e, period, seasons)
        st.spreads[mdl - 1, :, s:e] = profiles.phase_spread(
            st.raw, st.model_exp[mdl], st.pad, s, e, period, seasons, st.clip[mdl])


def _choose_models(st: _State, plan: Plan, cfg: DetectorConfig, s: int, window: FloatArray,
                   count: IntArray, mean_abs: FloatArray) -> None:
    usable = np.array([plan.usable(mdl, s) for mdl in MODELS])[:, None]
    eligible = usable & (count >= cfg.min_scale_points)
    penalty = np.array([1.0, 1 / COMPLEXITY_GAIN, 1 / COMPLEXITY_GAIN**2])[:, None]
    crit = np.where(eligible, mean_abs * penalty, np.inf)
    chosen = np.argmin(crit, axis=0).astype(np.int64)
    chosen[~np.isfinite(crit.min(axis=0))] = NO_MODEL
    rows = np.arange(chosen.size)
    sig = np.full(crit.shape, np.nan)
    # The scale is needed for the chosen model and for the level fallback only.
    sig[LEVEL] = profiles.robust_sigma(window[LEVEL])
    seasonal = chosen > LEVEL
    if seasonal.any():
        sig[chosen[seasonal], rows[seasonal]] = profiles.robust_sigma(
            window[chosen[seasonal], rows[seasonal]])
    has = chosen >= 0
    if has.any():
        pick = np.maximum(chosen, 0)
        lo = max(0, s - plan.scale_window)
        with np.errstate(over="ignore", invalid="ignore"):
            raw_res = np.abs(st.raw[:, st.pad + lo : st.pad + s] - st.model_exp[pick, rows, lo:s])
        frac = max(cfg.tail_fraction, cfg.tail_min_points / max(raw_res.shape[1], 1))
        tail = profiles.tail_sigma(raw_res, min(frac, 0.5))
        sig[pick[has], rows[has]] = np.fmax(sig[pick[has], rows[has]], tail[has])
    st.chosen, st.model_sigma = chosen, sig


def _block_expectations(st: _State, plan: Plan, s: int, e: int) -> tuple[FloatArray,
                                                                          FloatArray]:
    """(expectation, phase sigma) of each model for the points of [s, e)."""
    n = st.train.shape[0]
    exp_all = np.full((3, n, e - s), np.nan)
    spread = np.full((3, n, e - s), np.nan)
    exp_all[LEVEL] = profiles.level(st.train, st.pad, s, plan.level_window)[:, None]
    lo = max(0, s - plan.level_window)
    for mdl in (DAILY, WEEKLY):
        period = plan.period(mdl)
        if period == 0 or s < period:
            continue
        with np.errstate(over="ignore", invalid="ignore"):
            recent = st.train[:, st.pad + lo : st.pad + s] - st.profiles[mdl - 1, :, lo:s]
        offset = np.nan_to_num(profiles.nanmedian(recent), nan=0.0)
        exp_all[mdl] = st.profiles[mdl - 1, :, s:e] + offset[:, None]
        spread[mdl] = st.spreads[mdl - 1, :, s:e]
    st.model_exp[:, :, s:e] = exp_all
    return exp_all, spread


def fit_baseline(values: FloatArray, step_s: int, cfg: DetectorConfig) -> BaselineFit:
    """Score every point of every row of ``values`` (n_series, n_points) causally."""
    plan = Plan.make(cfg, step_s)
    n, total = values.shape
    st = _State.start(values, plan.level_window)
    expected = np.full((n, total), np.nan)
    sigma = np.full((n, total), np.nan)
    score = np.full((n, total), np.nan)
    model = np.full((n, total), NO_MODEL, dtype=np.int8)
    finite = ~np.isnan(values)
    rows = np.arange(n)
    floor_abs = cfg.min_abs_change / cfg.k_alert
    floor_rel = cfg.min_rel_change / cfg.k_alert
    refits: list[int] = []

    for s in range(0, total, plan.block):
        e = min(total, s + plan.block)
        interval = s % plan.refit == 0
        refit = s >= plan.warmup and (interval or not refits)
        if interval or refit:
            stats = _window_stats(st, plan, cfg, s)
        if interval:
            _new_interval(st, plan, s, min(total, s + plan.refit))
        if refit:
            _choose_models(st, plan, cfg, s, *stats)
            refits.append(s)
        exp_all, spread = _block_expectations(st, plan, s, e)
        if not refits:
            continue
        obs = values[:, s:e]
        pick = np.maximum(st.chosen, 0)
        exp = exp_all[pick, rows]
        sig = np.fmax(st.model_sigma[pick, rows][:, None], spread[pick, rows])
        fallback = np.isnan(exp) & ~np.isnan(exp_all[LEVEL])
        exp = np.where(fallback, exp_all[LEVEL], exp)
        sig = np.where(fallback, st.model_sigma[LEVEL][:, None], sig)
        none = (st.chosen == NO_MODEL)[:, None] | np.isnan(exp) | np.isnan(sig)
        magnitude = np.abs(exp)
        floor = np.maximum(floor_abs, floor_rel * magnitude)
        sig_eff = np.maximum(np.maximum(sig, floor), 1e-12 + 1e-9 * magnitude)  # never 0
        with np.errstate(invalid="ignore"):
            z = np.where(none, np.nan, (obs - exp) / sig_eff)
        expected[:, s:e] = np.where(none, np.nan, exp)
        sigma[:, s:e] = np.where(none, np.nan, sig_eff)
        score[:, s:e] = z
        model[:, s:e] = np.where(none, NO_MODEL, np.where(fallback, LEVEL, pick[:, None]))
        with np.errstate(invalid="ignore"):
            flagged = np.abs(z) >= cfg.k_train
        st.excluded_now[:, s:e] |= flagged
        st.train[:, st.pad + s : st.pad + e][flagged] = np.nan
        _accept_long_excursions(st, values, finite[:, s:e] & ~flagged, s, e, plan.accept_after)

    return BaselineFit(
        plan=plan,
        expected=expected,
        sigma=sigma,
        score=score,
        model=model,
        excluded=st.excluded_now | (st.released_at != NEVER),
        released_at=st.released_at,
        refit_starts=np.asarray(refits, dtype=np.int64),
    )


def _accept_long_excursions(st: _State, values: FloatArray, normal: BoolArray, s: int,
                            e: int, accept_after: int) -> None:
    """Return excursions longer than accept_after to training: they are the new normal."""
    has_normal = normal.any(axis=1)
    last_normal = normal.shape[1] - 1 - np.argmax(normal[:, ::-1], axis=1)
    st.run_start[has_normal] = s + last_normal[has_normal] + 1
    accept = np.nonzero(e - st.run_start >= accept_after)[0]
    if accept.size == 0:
        return
    lo = int(st.run_start[accept].min())
    in_run = np.arange(lo, e)[None, :] >= st.run_start[accept][:, None]
    release = st.excluded_now[accept, lo:e] & in_run
    if release.any():
        sub_rows, sub_cols = np.nonzero(release)
        r, c = accept[sub_rows], sub_cols + lo
        st.excluded_now[r, c] = False
        st.released_at[r, c] = e
        st.train[r, c + st.pad] = values[r, c]
    st.run_start[accept] = e
