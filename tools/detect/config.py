"""Detector settings, with the defaults that the NAB evaluation and the tests were run on.

Durations are in seconds and turned into points with the series' sampling step, so one
config fits hourly, 5-minute and daily series alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Literal

from tools.detect.diagnostics import DetectInputError

MINUTE = 60
HOUR = 3600
DAY = 86_400
WEEK = 7 * DAY


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    """Sensitivity and memory of the detector.

    Scores are robust z-scores: (observed - expected) / sigma, where sigma is the robust
    scale of recent residuals, raised so that a move smaller than the minimum-change floor
    can never reach ``k_alert``.
    """

    # An excursion raises one alert when |score| first reaches k_alert. 4.5 robust sigmas
    # keeps the false-alarm rate on Gaussian noise near 1 per 100,000 points.
    k_alert: float = 4.5
    # The excursion's onset is found by walking back while the same-sign score stays at or
    # above k_onset; the excursion ends when the score stays below it for rearm_seconds.
    k_onset: float = 2.0
    # Points at or beyond k_train are kept out of every later baseline (until accepted).
    k_train: float = 3.0
    # Minimum change floor: a deviation must be at least this large to alert...
    min_abs_change: float = 0.0
    # ...and at least this fraction of the expected value's magnitude.
    min_rel_change: float = 0.05
    # Calm time (every score below k_onset) before a new alert may fire.
    rearm_seconds: int = 6 * HOUR
    min_rearm_points: int = 3
    # No score before this much history; two days lets the hour-of-day profile form first.
    warmup_seconds: int = 2 * DAY
    min_history_points: int = 24
    # The level-only baseline: median of this many preceding points.
    level_window_points: int = 24
    # Hour-of-day profile: median of the same phase over up to this many past days.
    daily_seasons: int = 7
    # Hour-of-week profile: median of the same phase over up to this many past weeks.
    weekly_seasons: int = 4
    # Residuals used for the robust scale and for choosing the baseline model.
    scale_window_seconds: int = WEEK
    min_scale_points: int = 12
    # Heavy tails: the scale window is cut into stretches of rearm_seconds; when more than
    # tail_episodes of them held a residual this large (anomalies included), it is part of
    # the series' normal range and the band widens to it. A one-off anomaly, however long,
    # is one stretch or two, so it does not.
    tail_episodes: int = 3
    # An excursion that lasts this long is accepted as the new normal and re-enters training.
    accept_after_seconds: int = DAY
    # The level and the seasonal level offset are updated every block_points points; the
    # seasonal profiles, the model choice and the scales once per refit interval.
    block_points: int = 6
    refit_seconds: int = DAY
    # Two rows with the same timestamp (or snapped to the same grid slot) are merged.
    duplicate_policy: Literal["mean", "last"] = "mean"
    # Refuse to build a grid longer than this (a far-off timestamp with a short step).
    max_grid_points: int = 5_000_000

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name == "duplicate_policy":
                if value not in ("mean", "last"):
                    raise DetectInputError(
                        f"duplicate_policy must be 'mean' or 'last', not {value!r}")
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise DetectInputError(f"{item.name} must be a number, not {value!r}")
            if not math.isfinite(value) or value < 0:
                raise DetectInputError(f"{item.name} must be a finite number >= 0, not {value!r}")
        positive = ("k_alert", "k_onset", "k_train", "level_window_points", "block_points",
                    "daily_seasons", "weekly_seasons", "max_grid_points", "min_scale_points",
                    "tail_episodes")
        for name in positive:
            if getattr(self, name) <= 0:
                raise DetectInputError(f"{name} must be > 0")
        if self.k_onset > self.k_alert:
            raise DetectInputError("k_onset must not exceed k_alert")
        if self.min_rel_change >= 1:
            raise DetectInputError("min_rel_change is a fraction and must be below 1")

    def points(self, seconds: float, step_s: int) -> int:
        """A duration in whole points at this step (at least one)."""
        return max(1, math.ceil(seconds / step_s))
