"""score_series / score_matrix / find_anomalies: detection, honesty and robustness."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tests.tools.detect.synth import DAY, HOUR, matrix, seasonal
from tools.detect import (
    DetectInputError,
    DetectorConfig,
    find_anomalies,
    score_matrix,
    score_series,
)

START = 1_700_006_400  # a midnight, so grid indices are hours of the day
# The documented false-alarm rate on clean seasonal noise: below 1 per 50,000 points.
FALSE_ALARM_RATE = 2e-5


def hourly(values: np.ndarray) -> np.ndarray:
    return START + HOUR * np.arange(values.size)


@pytest.mark.parametrize(("kind", "at"), [("spike", 400), ("step", 500), ("drop", 610)])
def test_injected_anomaly_is_found_with_its_onset(kind: str, at: int) -> None:
    values = seasonal(3, noise=2.0)
    if kind == "spike":
        values[at] += 25
    elif kind == "step":
        values[at:] += 30
    else:
        values[at : at + 5] = 0.0
    anomalies = find_anomalies(score_series(hourly(values), values))
    assert len(anomalies) == 1, anomalies
    found = anomalies[0]
    assert abs(found.onset_index - at) <= 1
    assert found.onset_ts == START + HOUR * found.onset_index
    assert found.alert_index >= found.onset_index
    assert found.direction == ("down" if kind == "drop" else "up")
    assert not found.lower <= found.observed <= found.upper
    assert found.lower < found.expected < found.upper
    assert found.evidence.model in ("hour_of_day", "hour_of_week")
    assert found.evidence.baseline_indices
    # Seasonal evidence points sit at the same hour of earlier days.
    assert {(found.alert_index - i) % 24 for i in found.evidence.baseline_indices} == {0}


def test_onset_is_where_a_ramp_departs_not_where_it_crosses_the_alert_threshold() -> None:
    values = seasonal(5, noise=1.0)
    values[450:460] += np.linspace(4, 40, 10)
    [found] = find_anomalies(score_series(hourly(values), values))
    assert found.alert_index > found.onset_index
    assert 449 <= found.onset_index <= 451


def test_clean_seasonal_noise_stays_below_the_documented_false_alarm_rate() -> None:
    result = score_matrix(matrix(range(200)), HOUR, START)
    scored = int(np.isfinite(result.score).sum())
    assert scored > 200 * 600
    assert len(find_anomalies(result)) / scored < FALSE_ALARM_RATE


def test_past_anomalies_do_not_shape_later_baselines() -> None:
    clean = seasonal(11, noise=1.5)
    values = clean.copy()
    values[300:306] += 80  # six hours far off on day 12...
    values[324:330] += 80  # ...and again on day 13
    result = score_series(hourly(values), values)
    reference = score_series(hourly(clean), clean)
    assert result.matrix.fit.excluded[0, 300:306].all()
    assert result.matrix.fit.excluded[0, 324:330].all()
    # On day 14 the same hours are expected (a trimmed mean of 7 days would keep one of
    # the two excursions and sit about 16 higher) with a band as if nothing had happened.
    assert np.abs(result.expected[348:354] - reference.expected[348:354]).max() < 3
    assert (result.upper[348:354] - result.expected[348:354]
            < 1.5 * (reference.upper[348:354] - reference.expected[348:354])).all()
    [evidence] = {a.evidence.baseline_indices for a in find_anomalies(result)
                  if a.onset_index == 324}
    assert 300 not in evidence
    # The excursion repeating on day 14 is still an anomaly.
    values[348:354] += 80
    onsets = [a.onset_index for a in find_anomalies(score_series(hourly(values), values))]
    assert onsets == [300, 324, 348]


def test_a_lasting_level_shift_alerts_once_then_becomes_the_new_normal() -> None:
    values = seasonal(7, noise=1.5)
    values[400:] += 40
    result = score_series(hourly(values), values)
    [found] = find_anomalies(result)
    assert found.onset_index == 400 and found.end_index is not None
    assert found.end_index < 400 + 2 * 24  # accepted after a day
    assert np.nanmax(np.abs(result.score[500:])) < 4.5


def test_min_change_floor_silences_tiny_moves_on_tiny_series() -> None:
    rng = np.random.default_rng(1)
    values = 2.0 + rng.normal(0, 0.001, 24 * 10)
    values[150] += 0.05  # 50 sigmas, but only 2.5% of the value
    assert find_anomalies(score_series(hourly(values), values)) == []
    loose = DetectorConfig(min_rel_change=0.01)
    [found] = find_anomalies(score_series(hourly(values), values, loose))
    assert found.alert_index == 150
    strict = DetectorConfig(min_rel_change=0.0, min_abs_change=0.1)
    assert find_anomalies(score_series(hourly(values), values, strict)) == []


def test_scores_never_look_ahead() -> None:
    values = seasonal(2)
    base = score_series(hourly(values), values)
    changed = values.copy()
    changed[450:] = changed[450:] * 3 + 50
    later = score_series(hourly(changed), changed)
    assert np.array_equal(base.score[:450], later.score[:450], equal_nan=True)
    assert np.array_equal(base.expected[:451], later.expected[:451], equal_nan=True)


def test_matrix_rows_score_like_single_series() -> None:
    values = matrix(range(3))
    values[1, 333] += 40
    result = score_matrix(values, HOUR, START)
    for row in range(3):
        single = score_series(hourly(values[row]), values[row])
        assert np.allclose(result.score[row], single.score, equal_nan=True)
    assert [(a.series, a.onset_index) for a in find_anomalies(result)] == [(1, 333)]


def test_models_follow_the_data_and_its_step() -> None:
    five_min = seasonal(4, days=4, step=300)
    result = score_series(300 * np.arange(five_min.size), five_min)
    assert result.matrix.model_name(0, five_min.size - 1) == "hour_of_day"
    rng = np.random.default_rng(0)
    weekly = np.tile(np.r_[np.full(24 * 5, 100.0), np.full(24 * 2, 40.0)], 4)
    weekly = weekly + rng.normal(0, 1, weekly.size)
    weekly_result = score_series(hourly(weekly), weekly)
    assert weekly_result.matrix.model_name(0, weekly.size - 1) == "hour_of_week"
    assert find_anomalies(weekly_result) == [] or all(
        a.alert_index < 14 * 24 for a in find_anomalies(weekly_result))
    odd = seasonal(4, days=20)
    odd_result = score_series(420 * np.arange(odd.size), odd)  # 7 minutes: not a day's divisor
    assert "no_daily_season" in odd_result.diagnostics.codes()
    assert odd_result.matrix.model_name(0, odd.size - 1) == "level"


def test_spiky_series_learns_its_recurring_spikes() -> None:
    values = np.zeros(24 * 20)
    values[::30] = 20.0  # a spike every 30 hours is this series' normal
    result = score_series(hourly(values), values)
    late = [a for a in find_anomalies(result) if a.alert_index > 10 * 24]
    assert late == []


# Bad input: a clear reason, never a crash.

@pytest.mark.parametrize(
    ("ts", "values", "code"),
    [
        (np.array([], dtype=np.int64), np.array([]), "empty"),
        (np.arange(100) * HOUR, np.full(100, np.nan), "all_missing"),
        (np.arange(10) * HOUR, np.arange(10.0), "short"),
        (np.array([START]), np.array([1.0]), "short"),
        (np.array([0, 60, 120, 10**9]), np.ones(4), "grid_too_large"),
        (np.array(["2024-01-01T00", "NaT"], dtype="datetime64[s]"), np.ones(2),
         "bad_timestamps"),
    ],
)
def test_unscorable_input_says_why(ts: np.ndarray, values: np.ndarray, code: str) -> None:
    cfg = DetectorConfig(max_grid_points=1000)
    result = score_series(ts, values, cfg)
    assert code in result.diagnostics.codes()
    assert not np.isfinite(result.score).any()
    assert find_anomalies(result) == []
    assert all(issue.message for issue in result.diagnostics.issues)


def test_fixable_input_is_scored_and_reported() -> None:
    values = seasonal(8, days=10)
    ts = hourly(values)
    values[[50, 60]] = [np.inf, -np.inf]
    values[70] = np.nan
    keep = np.ones(values.size, dtype=bool)
    keep[100:110] = False  # a ten-hour hole in the timestamps
    ts2 = np.r_[ts[keep], ts[200:203]]  # three repeated timestamps...
    values2 = np.r_[values[keep], values[200:203] + 6]  # ...with other values
    order = np.random.default_rng(0).permutation(ts2.size)
    result = score_series(ts2[order], values2[order])
    codes = result.diagnostics.codes()
    for code in ("non_finite", "unsorted", "duplicates", "gaps", "no_weekly_season"):
        assert code in codes, codes
    assert result.diagnostics.scorable
    assert result.values.size == values.size
    assert np.isnan(result.values[100:110]).all() and np.isnan(result.values[[50, 60, 70]]).all()
    assert result.values[200] == pytest.approx(values[200] + 3)  # mean of the duplicates
    assert np.isnan(result.score[np.isnan(result.values)]).all()
    assert np.isfinite(result.score[24 * 3 :][~np.isnan(result.values[24 * 3 :])]).all()


def test_duplicate_policy_last_keeps_the_latest_row() -> None:
    ts = np.r_[np.arange(60), [30]] * HOUR
    values = np.r_[np.ones(60), [9.0]]
    result = score_series(ts, values, DetectorConfig(duplicate_policy="last"))
    assert result.values[30] == 9.0


def test_constant_series_is_reported_and_only_real_changes_alert() -> None:
    values = np.full(24 * 6, 45.0)
    result = score_series(hourly(values), values)
    assert "constant" in result.diagnostics.codes()
    assert np.nanmax(np.abs(result.score)) == 0.0
    values[100] = 45.5  # 1%: under the 5% floor
    values[120] = 60.0
    [found] = find_anomalies(score_series(hourly(values), values))
    assert found.alert_index == 120


def test_shorter_than_a_season_uses_the_level_only() -> None:
    values = np.r_[np.full(30, 10.0), np.full(6, 30.0)] + np.random.default_rng(0).normal(0, .2, 36)
    cfg = DetectorConfig(warmup_seconds=0)
    result = score_series(hourly(values), values, cfg)
    assert "no_daily_season" in result.diagnostics.codes()
    [found] = find_anomalies(result)
    assert found.onset_index == 30 and found.evidence.model == "level"


def test_api_misuse_raises_a_typed_error() -> None:
    with pytest.raises(DetectInputError, match="differ in length"):
        score_series(np.arange(3), np.arange(4.0))
    with pytest.raises(DetectInputError, match="1-D"):
        score_series(np.ones((2, 2)), np.ones((2, 2)))
    with pytest.raises(DetectInputError, match="datetime64"):
        score_series(np.array(["a", "b"]), np.ones(2))
    with pytest.raises(DetectInputError, match="numeric"):
        score_series(np.arange(2), ["x", "y"])
    with pytest.raises(DetectInputError, match="step_seconds"):
        score_matrix(np.ones((2, 3)), 0)
    with pytest.raises(DetectInputError, match="2-D"):
        score_matrix(np.ones((2, 3, 4)), 60)


finite = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, width=64)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    values=hnp.arrays(np.float64, st.integers(0, 150),
                      elements=st.one_of(finite, st.just(np.nan), st.just(np.inf))),
    step=st.sampled_from([1, 60, 300, 3600, 86_400, 7 * 60]),
)
def test_random_series_never_crash_and_scores_are_finite_or_nan(values: np.ndarray,
                                                                 step: int) -> None:
    cfg = DetectorConfig(min_history_points=4, warmup_seconds=0, level_window_points=4,
                         min_scale_points=3)
    result = score_series(step * np.arange(values.size), values, cfg)
    score = result.score
    assert not np.isinf(score).any()
    assert np.isnan(score[~np.isfinite(result.values)]).all()
    for anomaly in find_anomalies(result):
        assert anomaly.onset_index <= anomaly.alert_index
        assert np.isfinite(anomaly.score) and abs(anomaly.score) >= cfg.k_alert
        assert anomaly.lower <= anomaly.expected <= anomaly.upper
        assert anomaly.as_json()["alert_time"]


def test_huge_magnitudes_do_not_overflow() -> None:
    values = seasonal(1, days=5) * 1e140
    values[100] = -1e149
    result = score_series(hourly(values), values)
    assert not np.isinf(result.score).any()
    [found] = find_anomalies(result)
    assert found.alert_index == 100


def test_timestamps_may_be_datetime64_or_float_seconds() -> None:
    values = seasonal(9, days=5)
    as_dt = np.datetime64("2024-03-01T00:00") + np.arange(values.size) * np.timedelta64(1, "h")
    as_float = START + HOUR * np.arange(values.size) + 0.25
    a = score_series(as_dt, values)
    b = score_series(as_float, values)
    assert a.matrix.step_s == b.matrix.step_s == HOUR
    assert np.allclose(a.score, b.score, equal_nan=True)
    assert a.timestamps[0] == np.datetime64("2024-03-01T00:00", "s").astype(np.int64)
    assert "off_grid" not in b.diagnostics.codes()  # 0.25 s rounds onto the grid


def test_daily_steps_need_more_points_of_history() -> None:
    values = np.r_[np.full(40, 5.0), [50.0]]
    result = score_series(DAY * np.arange(values.size), values)
    assert "no_daily_season" in result.diagnostics.codes()
    [found] = find_anomalies(result)
    assert found.alert_index == 40
