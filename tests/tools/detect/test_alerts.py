"""Excursions -> one alert each, re-armed after calm, with the onset walked back."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tools.detect.alerts import Alerts, segment

NAN = float("nan")


def run(scores: Sequence[float], rearm: int = 3) -> Alerts:
    return segment(np.array([scores]), k_alert=4.0, k_onset=2.0, rearm=rearm)


def alerts(scores: Sequence[float], rearm: int = 3) -> list[tuple[int, int]]:
    """(onset, alert) index pairs."""
    out = run(scores, rearm)
    return [(int(out.onset[0, i]), int(i)) for i in np.nonzero(out.alert[0])[0]]


def test_one_alert_per_excursion_with_the_onset_where_it_departed() -> None:
    assert alerts([0, 0, 2.5, 3, 5, 6, 5, 1, 0]) == [(2, 4)]


def test_re_arms_only_after_enough_calm_points() -> None:
    bumpy = [0, 5, 0, 0, 5, 0, 0, 0, 5, 0]
    assert alerts(bumpy, rearm=3) == [(1, 1), (8, 8)]
    assert alerts(bumpy, rearm=2) == [(1, 1), (4, 4), (8, 8)]


def test_sign_flip_inside_an_excursion_does_not_alert_again() -> None:
    assert alerts([0, -5, -3, 6, 0, 0, 0]) == [(1, 1)]


def test_sub_threshold_departures_never_alert() -> None:
    assert alerts([0, 3, 3.9, 3, 2.1, 0]) == []


def test_gaps_carry_the_state_over() -> None:
    assert alerts([0, 3, NAN, NAN, 5, 0]) == [(1, 4)]
    # A gap is not calm: it does not re-arm.
    assert alerts([0, 5, NAN, NAN, NAN, 5, 0], rearm=2) == [(1, 1)]


def test_leading_missing_scores_are_calm_and_empty_input_is_fine() -> None:
    assert alerts([NAN, NAN, 6]) == [(2, 2)]
    empty = segment(np.zeros((3, 0)), 4.0, 2.0, 3)
    assert empty.alert.shape == (3, 0)


def test_rows_are_independent() -> None:
    out = segment(np.array([[0, 6, 0], [0, 0, -6]], dtype=float), 4.0, 2.0, 3)
    assert np.argwhere(out.alert).tolist() == [[0, 1], [1, 2]]
