"""The causal, robust, seasonal baseline: expected value, scale and score for every point.

Three baselines compete per series:

* ``level``: the median of the ``level_window_points`` training points before the block;
* ``hour_of_day``: a trimmed mean of the same phase over the last ``daily_seasons`` days,
  plus a level offset (the median recent departure from that profile), used from two days;
* ``hour_of_week``: the same over the last ``weekly_seasons`` weeks, used from two weeks.

Seasonal phases are lags in points (a day is 86400 / step points), so the step must divide
a day. At each refit (daily) every series takes the model with the smallest mean absolute
residual over the scale window (a more complex one must win by ``COMPLEXITY_GAIN``). Its
sigma is the largest of: 1.4826 * median |training residual| and q99 / 2.58 of the same
(residuals about zero, so a biased model gets a wider band; see profiles.robust_sigma);
the size of spikes seen in more than ``tail_episodes`` separate stretches of the window
(profiles.tail_sigma); the spread of this phase's own past residuals
(profiles.phase_spread); and the minimum-change floor divided by ``k_alert``.

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
from tools.detect.nanstats import nanmedian
from tools.detect.ring import Ring

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

LEVEL, DAILY, WEEKLY = 0, 1, 2
MODELS = (LEVEL, DAILY, WEEKLY)
MODEL_NAMES = ("level", "hour_of_day", "hour_of_week")
NO_MODEL = -1
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
    released_at: npt.NDArray[np.int32]  # block start it was back in training from; 0: never
    refit_starts: IntArray


@dataclass(slots=True)
class _State:
    """The detector's memory while it walks through the blocks.

    Residual statistics for model choice are kept as per-interval sums of |residual| over
    training points, so a refit adds up a week of buckets instead of re-reading a week of
    points for every model.
    """

    train: FloatArray  # values with excluded points NaN; `pad` NaN columns on the left
    raw: FloatArray  # the same without exclusions
    pad: int
    interval: int  # points per refit interval (= bucket width)
    model_exp: Ring  # (3, n, ·) each model's expectation, NaN before it exists
    profiles: Ring  # (2, n, ·) seasonal profile without its level offset
    clipped: npt.NDArray[np.float32]  # (2, n, T) clipped |raw residual|, 0 where unknown
    clipped_seen: npt.NDArray[np.float32]  # (2, n, T) 1 where clipped holds a residual
    spreads: FloatArray  # (2, n, interval) phase sigma of each seasonal model
    interval_start: int
    bucket_sum: FloatArray  # (3, n, intervals) sum of |training residual|
    bucket_cnt: FloatArray
    excluded_now: BoolArray
    released_at: npt.NDArray[np.int32]  # 0: never released
    run_start: IntArray  # where each series' current run of excluded points began
    chosen: IntArray
    model_sigma: FloatArray  # (3, n)
    clip: FloatArray  # (3, n) sigma from mean |residual|: caps the residuals in spreads

    @classmethod
    def start(cls, values: FloatArray, plan: Plan) -> _State:
        n, total = values.shape
        pad = plan.level_window
        train = np.full((n, total + pad), np.nan)
        train[:, pad:] = values
        buckets = -(-total // plan.refit)
        # Expectations are read back over the scale window (refit) and over an excursion
        # about to be accepted; profiles over the level window before a block.
        exp_width = (max(plan.scale_window, plan.accept_after + plan.block)
                     + plan.refit + plan.block)
        return cls(train=train, raw=train.copy(), pad=pad, interval=plan.refit,
                   model_exp=Ring(3, n, exp_width),
                   profiles=Ring(2, n, plan.refit + plan.level_window + plan.block),
                   clipped=np.zeros((2, n, total), dtype=np.float32),
                   clipped_seen=np.zeros((2, n, total), dtype=np.float32),
                   spreads=np.full((2, n, 0), np.nan), interval_start=0,
                   bucket_sum=np.zeros((3, n, buckets)),
                   bucket_cnt=np.zeros((3, n, buckets)),
                   excluded_now=np.zeros((n, total), dtype=bool),
                   released_at=np.zeros((n, total), dtype=np.int32),
                   run_start=np.zeros(n, dtype=np.int64),
                   chosen=np.full(n, NO_MODEL, dtype=np.int64),
                   model_sigma=np.full((3, n), np.nan),
                   clip=np.full((3, n), np.nan))

    def add_residuals(self, s: int, e: int, exp_all: FloatArray) -> None:
        """Add the block's training residuals (exclusions applied) to its bucket."""
        with np.errstate(over="ignore", invalid="ignore"):
            res = np.abs(self.train[None, :, self.pad + s : self.pad + e] - exp_all)
        seen = ~np.isnan(res)
        bucket = s // self.interval
        self.bucket_sum[:, :, bucket] += np.where(seen, res, 0.0).sum(axis=-1)
        self.bucket_cnt[:, :, bucket] += seen.sum(axis=-1)

    def window_stats(self, plan: Plan, cfg: DetectorConfig, s: int
                     ) -> tuple[IntArray, FloatArray]:
        """(count, mean |training residual|) per model over the scale window before s,
        in whole intervals; also sets the clip for the phase spreads."""
        last = -(-s // self.interval)  # buckets before s, the current partial one included
        first = max(0, last - -(-plan.scale_window // self.interval))
        total = self.bucket_sum[:, :, first:last].sum(axis=-1)
        count = self.bucket_cnt[:, :, first:last].sum(axis=-1).astype(np.int64)
        mean_abs = total / np.maximum(count, 1)
        self.clip = np.where(count >= cfg.min_scale_points,
                             profiles.MEAN_ABS_TO_SIGMA * mean_abs, np.nan)
        return count, mean_abs

    def release(self, rows: IntArray, cols: IntArray, values: FloatArray, when: int) -> None:
        """Put excluded points back into training (and into their buckets)."""
        self.excluded_now[rows, cols] = False
        self.released_at[rows, cols] = when
        self.train[rows, cols + self.pad] = values[rows, cols]
        with np.errstate(over="ignore", invalid="ignore"):
            res = np.abs(values[rows, cols][None, :] - self.model_exp.at(rows, cols))
        seen = ~np.isnan(res)
        for mdl in MODELS:
            np.add.at(self.bucket_sum[mdl], (rows, cols // self.interval),
                      np.where(seen[mdl], res[mdl], 0.0))
            np.add.at(self.bucket_cnt[mdl], (rows, cols // self.interval), seen[mdl])


def _new_interval(st: _State, plan: Plan, s: int, e: int) -> None:
    """Seasonal profiles and phase spreads for the whole interval [s, e), as of time s."""
    st.spreads = np.full((2, st.train.shape[0], e - s), np.nan)
    st.interval_start = s
    for mdl in (DAILY, WEEKLY):
        period = plan.period(mdl)
        if period == 0 or s < period:
            continue
        seasons = plan.seasons(mdl)
        st.profiles.write_lead(mdl - 1, s, e, profiles.seasonal_profile(
            st.train, st.raw, st.pad, s, e, period, seasons))
        st.spreads[mdl - 1] = profiles.phase_spread(
            st.clipped[mdl - 1], st.clipped_seen[mdl - 1], s, e, period, seasons)


def _choose_models(st: _State, plan: Plan, cfg: DetectorConfig, s: int, count: IntArray,
                   mean_abs: FloatArray) -> None:
    """Each series' model (least mean |residual|) and its sigma: the larger of the robust
    sigma of its training residuals and the tail sigma of its raw residuals."""
    usable = np.array([plan.usable(mdl, s) for mdl in MODELS])[:, None]
    eligible = usable & (count >= cfg.min_scale_points)
    penalty = np.array([1.0, 1 / COMPLEXITY_GAIN, 1 / COMPLEXITY_GAIN**2])[:, None]
    crit = np.where(eligible, mean_abs * penalty, np.inf)
    chosen = np.argmin(crit, axis=0).astype(np.int64)
    chosen[~np.isfinite(crit.min(axis=0))] = NO_MODEL
    rows = np.arange(chosen.size)
    pick = np.maximum(chosen, 0)
    lo = max(0, s - plan.scale_window)
    exp = st.model_exp.read_picked(pick, lo, s)  # each series' chosen model
    with np.errstate(over="ignore", invalid="ignore"):
        trained = np.abs(st.train[:, st.pad + lo : st.pad + s] - exp)
        raw_res = np.abs(st.raw[:, st.pad + lo : st.pad + s] - exp)
    sig = profiles.MEAN_ABS_TO_SIGMA * mean_abs  # the level fallback's scale
    tail = profiles.tail_sigma(raw_res, plan.rearm, cfg.tail_episodes)
    chosen_sig = np.fmax(profiles.robust_sigma(trained), tail)
    has = chosen >= 0
    sig[pick[has], rows[has]] = chosen_sig[has]
    st.chosen, st.model_sigma = chosen, sig


def _block_expectations(st: _State, plan: Plan, s: int, e: int) -> tuple[FloatArray,
                                                                          FloatArray]:
    """(expectation, phase sigma) of each model for the points of [s, e)."""
    n = st.train.shape[0]
    exp_all = np.full((3, n, e - s), np.nan)
    spread = np.full((3, n, e - s), np.nan)
    exp_all[LEVEL] = profiles.level(st.train, st.pad, s, plan.level_window)[:, None]
    lo = max(0, s - plan.level_window)
    raw = st.raw[:, st.pad + s : st.pad + e]
    recent_prof = st.profiles.read(lo, e)
    for mdl in (DAILY, WEEKLY):
        period = plan.period(mdl)
        if period == 0 or s < period:
            continue
        with np.errstate(over="ignore", invalid="ignore"):
            recent = st.train[:, st.pad + lo : st.pad + s] - recent_prof[mdl - 1, :, : s - lo]
        offset = np.nan_to_num(nanmedian(recent), nan=0.0)
        exp_all[mdl] = recent_prof[mdl - 1, :, s - lo :] + offset[:, None]
        spread[mdl] = st.spreads[mdl - 1, :, s - st.interval_start : e - st.interval_start]
        # Residuals from before the model had a scale have nothing to be clipped against and
        # are left out (NaN cap). The cap at CLIPPED_MAX keeps float32 sums finite.
        cap = np.minimum(profiles.LOCAL_CLIP * st.clip[mdl], profiles.CLIPPED_MAX)
        with np.errstate(over="ignore", invalid="ignore"):
            res = np.minimum(np.abs(raw - exp_all[mdl]), cap[:, None])
        seen = ~np.isnan(res)
        st.clipped[mdl - 1, :, s:e] = np.where(seen, res, 0.0)
        st.clipped_seen[mdl - 1, :, s:e] = seen
    st.model_exp.write(s, e, exp_all)
    return exp_all, spread


def fit_baseline(values: FloatArray, step_s: int, cfg: DetectorConfig) -> BaselineFit:
    """Score every point of every row of ``values`` (n_series, n_points) causally."""
    plan = Plan.make(cfg, step_s)
    n, total = values.shape
    st = _State.start(values, plan)
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
            stats = st.window_stats(plan, cfg, s)
        if interval:
            _new_interval(st, plan, s, min(total, s + plan.refit))
        if refit:
            _choose_models(st, plan, cfg, s, *stats)
            refits.append(s)
        exp_all, spread = _block_expectations(st, plan, s, e)
        if not refits:
            st.add_residuals(s, e, exp_all)
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
        st.add_residuals(s, e, exp_all)
        _accept_long_excursions(st, values, finite[:, s:e] & ~flagged, s, e, plan.accept_after)

    return BaselineFit(
        plan=plan,
        expected=expected,
        sigma=sigma,
        score=score,
        model=model,
        excluded=st.excluded_now | (st.released_at != 0),
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
        st.release(accept[sub_rows], sub_cols + lo, values, e)
    st.run_start[accept] = e
