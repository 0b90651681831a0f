"""Regularisation: rows -> a regular grid, with every repair reported."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tools.detect.diagnostics import DetectInputError, SeriesDiagnostics
from tools.detect.grid import Grid, infer_step, regularise


def grid(ts: list[int], values: list[float], **kw: Any) -> tuple[Grid, SeriesDiagnostics]:
    diag = SeriesDiagnostics()
    return regularise(np.array(ts), np.array(values, dtype=float), diag, **kw), diag


def test_regular_rows_pass_through_untouched() -> None:
    g, diag = grid([100, 160, 220], [1, 2, 3])
    assert (g.start_s, g.step_s) == (100, 60)
    assert g.values.tolist() == [1, 2, 3]
    assert g.timestamps.tolist() == [100, 160, 220]
    assert diag.issues == []


def test_gaps_stay_nan_and_are_counted() -> None:
    g, diag = grid([0, 60, 240, 300], [1, 2, 5, 6])
    assert np.isnan(g.values[2:4]).all() and g.values.size == 6
    [gaps] = [i for i in diag.issues if i.code == "gaps"]
    assert gaps.count == 2


@pytest.mark.parametrize(("policy", "expected"), [("mean", 4.0), ("last", 6.0)])
def test_duplicated_timestamps_merge_by_policy(policy: str, expected: float) -> None:
    g, diag = grid([0, 60, 60, 60, 120], [1, 2, 4, 6, 3], duplicate_policy=policy)
    assert g.values.tolist() == [1, expected, 3]
    assert diag.has("duplicates")


def test_missing_values_do_not_win_a_merge() -> None:
    g, _ = grid([0, 60, 60, 120], [1, 5, float("nan"), 3], duplicate_policy="last")
    assert g.values[1] == 5
    g, _ = grid([0, 60, 60, 120], [1, 5, float("nan"), 3])
    assert g.values[1] == 5


def test_unsorted_and_jittered_rows_are_sorted_and_snapped() -> None:
    g, diag = grid([120, 0, 61, 178, 240], [3, 1, 2, 4, 5])
    assert g.step_s == 60 and g.values.tolist() == [1, 2, 3, 4, 5]
    assert diag.has("unsorted") and diag.has("off_grid")


def test_non_finite_and_absurd_values_become_gaps() -> None:
    g, diag = grid([0, 60, 120, 180], [1, float("inf"), 1e200, 2])
    assert np.isnan(g.values[1:3]).all()
    assert diag.has("non_finite") and diag.has("out_of_range")


def test_step_is_the_median_spacing() -> None:
    assert infer_step(np.array([0, 300, 600, 900, 2400, 2700])) == 300
    assert infer_step(np.array([5])) == 1


def test_a_far_timestamp_cannot_blow_up_the_grid() -> None:
    g, diag = grid([0, 60, 120, 10**9], [1, 2, 3, 4], max_points=10_000)
    assert g.values.size == 0 and not diag.scorable
    assert "over the limit" in diag.issues[-1].message


def test_given_step_must_be_positive() -> None:
    with pytest.raises(DetectInputError, match="step_s"):
        grid([0, 60], [1, 2], step_s=0)
