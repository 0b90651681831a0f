"""DetectorConfig rejects settings that cannot work, naming the setting."""

from __future__ import annotations

import pytest

from tools.detect import DetectInputError, DetectorConfig


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"k_alert": 0}, "k_alert must be > 0"),
        ({"k_onset": 5.0, "k_alert": 4.0}, "k_onset must not exceed k_alert"),
        ({"min_rel_change": 1.5}, "fraction"),
        ({"min_abs_change": float("nan")}, "min_abs_change must be a finite number"),
        ({"block_points": -1}, "block_points"),
        ({"duplicate_policy": "first"}, "duplicate_policy"),
        ({"rearm_seconds": "1h"}, "rearm_seconds must be a number"),
    ],
)
def test_bad_settings_are_named(changes: dict[str, object], match: str) -> None:
    with pytest.raises(DetectInputError, match=match):
        DetectorConfig(**changes)  # type: ignore[arg-type]


def test_durations_turn_into_whole_points() -> None:
    cfg = DetectorConfig()
    assert cfg.points(86_400, 300) == 288
    assert cfg.points(100, 3600) == 1
