"""Public entry points: score many series on one grid, or one irregular series."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tools.detect import diagnostics as dx
from tools.detect.alerts import Alerts, segment
from tools.detect.baseline import MODEL_NAMES, BaselineFit, Plan, fit_baseline
from tools.detect.config import DetectorConfig
from tools.detect.diagnostics import DetectInputError, SeriesDiagnostics
from tools.detect.grid import MAX_ABS, regularise

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

DEFAULT_CONFIG = DetectorConfig()


@dataclass(slots=True)
class MatrixResult:
    """Scores for rows of one regular grid; arrays are (n_series, n_points).

    ``score`` is NaN where a value is missing, during warm-up, or where no baseline could
    be formed; everywhere else it is finite.
    """

    start_s: int
    step_s: int
    values: FloatArray
    fit: BaselineFit
    alerts: Alerts
    config: DetectorConfig
    diagnostics: list[SeriesDiagnostics]

    @property
    def timestamps(self) -> IntArray:
        return self.start_s + self.step_s * np.arange(self.values.shape[1], dtype=np.int64)

    @property
    def expected(self) -> FloatArray:
        return self.fit.expected

    @property
    def score(self) -> FloatArray:
        return self.fit.score

    @property
    def lower(self) -> FloatArray:
        return self.fit.expected - self.config.k_alert * self.fit.sigma

    @property
    def upper(self) -> FloatArray:
        return self.fit.expected + self.config.k_alert * self.fit.sigma

    @property
    def alert(self) -> npt.NDArray[np.bool_]:
        return self.alerts.alert

    def model_name(self, row: int, index: int) -> str | None:
        code = int(self.fit.model[row, index])
        return MODEL_NAMES[code] if code >= 0 else None


@dataclass(slots=True)
class SeriesResult:
    """One series after regularisation; 1-D views onto a one-row MatrixResult."""

    matrix: MatrixResult
    diagnostics: SeriesDiagnostics

    @property
    def timestamps(self) -> IntArray:
        return self.matrix.timestamps

    @property
    def values(self) -> FloatArray:
        return np.asarray(self.matrix.values[0])

    @property
    def expected(self) -> FloatArray:
        return np.asarray(self.matrix.expected[0])

    @property
    def score(self) -> FloatArray:
        return np.asarray(self.matrix.score[0])

    @property
    def lower(self) -> FloatArray:
        return np.asarray(self.matrix.lower[0])

    @property
    def upper(self) -> FloatArray:
        return np.asarray(self.matrix.upper[0])

    @property
    def alert(self) -> npt.NDArray[np.bool_]:
        return np.asarray(self.matrix.alert[0])


def _row_diagnostics(values: FloatArray, plan: Plan, cfg: DetectorConfig,
                     n_inf: npt.NDArray[np.int64], n_huge: npt.NDArray[np.int64],
                     ) -> list[SeriesDiagnostics]:
    n, total = values.shape
    finite = ~np.isnan(values)
    count = finite.sum(axis=1)
    with np.errstate(invalid="ignore"):
        lo = np.nanmin(np.where(finite, values, np.inf), axis=1, initial=np.inf)
        hi = np.nanmax(np.where(finite, values, -np.inf), axis=1, initial=-np.inf)
    shared = SeriesDiagnostics()
    if total == 0:
        shared.add(dx.EMPTY, "no points: nothing to score")
    elif total == 1:
        shared.add(dx.SHORT, "a single point: there is no history to compare it with")
    elif total < plan.warmup:
        shared.add(dx.SHORT, f"{total} points at a {plan.step_s}s step is shorter than the "
                   f"warm-up of {plan.warmup} points: nothing scored")
    elif plan.day == 0:
        shared.add(dx.NO_DAILY, f"a {plan.step_s}s step does not divide a day into whole "
                   "points: no hour-of-day or hour-of-week profile, level-only baseline")
    else:
        if total < 2 * plan.day:
            shared.add(dx.NO_DAILY, f"{total} points is under two days ({2 * plan.day}): "
                       "no hour-of-day profile, level-only baseline")
        if total < 2 * plan.week:
            shared.add(dx.NO_WEEKLY, f"{total} points is under two weeks ({2 * plan.week}): "
                       "no hour-of-week profile")
    out: list[SeriesDiagnostics] = []
    for row in range(n):
        diag = SeriesDiagnostics(list(shared.issues))
        if n_inf[row]:
            diag.add(dx.NON_FINITE, f"{n_inf[row]} infinite value(s) treated as missing",
                     int(n_inf[row]))
        if n_huge[row]:
            diag.add(dx.OUT_OF_RANGE, f"{n_huge[row]} value(s) beyond ±{MAX_ABS:g} treated "
                     "as missing", int(n_huge[row]))
        if total and count[row] == 0:
            diag = SeriesDiagnostics([i for i in diag.issues
                                     if i.code in (dx.NON_FINITE, dx.OUT_OF_RANGE)])
            diag.add(dx.ALL_MISSING, "every value is missing (NaN): nothing to score")
        elif total and count[row] < total:
            gaps = int(total - count[row])
            diag.add(dx.GAPS, f"{gaps} missing value(s) (NaN) are gaps: not scored", gaps)
        if count[row] > 1 and lo[row] == hi[row]:
            floor = f"{cfg.min_rel_change:.0%} of the value"
            if cfg.min_abs_change:
                floor += f" and at least {cfg.min_abs_change:g}"
            diag.add(dx.CONSTANT, f"constant series ({lo[row]:g}): its scale is zero, so any "
                     f"change of at least the minimum-change floor ({floor}) alerts")
        out.append(diag)
    return out


def score_matrix(values: npt.ArrayLike, step_seconds: int, start_epoch_s: int = 0,
                 config: DetectorConfig = DEFAULT_CONFIG) -> MatrixResult:
    """Score every row of a (n_series, n_points) matrix on a regular grid; NaN are gaps."""
    try:
        arr = np.array(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DetectInputError(f"values must be numeric: {exc}") from None
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise DetectInputError(f"values must be 2-D (n_series, n_points), got {arr.shape}")
    if isinstance(step_seconds, bool) or not isinstance(step_seconds, int | np.integer) \
            or step_seconds <= 0:
        raise DetectInputError(f"step_seconds must be a positive integer, not {step_seconds!r}")
    step = int(step_seconds)
    inf = np.isinf(arr)
    with np.errstate(invalid="ignore"):
        huge = np.isfinite(arr) & (np.abs(arr) > MAX_ABS)
    arr[inf | huge] = np.nan
    plan = Plan.make(config, step)
    diags = _row_diagnostics(arr, plan, config, inf.sum(axis=1), huge.sum(axis=1))
    fit = fit_baseline(arr, step, config)
    alerts = segment(fit.score, config.k_alert, config.k_onset, plan.rearm)
    return MatrixResult(int(start_epoch_s), step, arr, fit, alerts, config, diags)


def score_series(ts: npt.ArrayLike, values: npt.ArrayLike,
                 config: DetectorConfig = DEFAULT_CONFIG, *,
                 step_seconds: int | None = None) -> SeriesResult:
    """Regularise (timestamp, value) rows onto a grid and score them.

    ``ts``: datetime64 or epoch seconds (int or float). The step is the median spacing
    unless ``step_seconds`` is given. Problems are listed in ``result.diagnostics``.
    """
    diag = SeriesDiagnostics()
    grid = regularise(ts, values, diag, step_s=step_seconds,
                      duplicate_policy=config.duplicate_policy,
                      max_points=config.max_grid_points)
    matrix = score_matrix(grid.values[None, :], grid.step_s, grid.start_s, config)
    seen = set(diag.codes())
    for issue in matrix.diagnostics[0].issues:
        # The grid's NaN slots were already reported as gaps by the regulariser.
        if issue.code not in seen and not (issue.code == dx.EMPTY and not diag.scorable):
            diag.issues.append(issue)
    matrix.diagnostics[0] = diag
    return SeriesResult(matrix, diag)
