"""Anomaly records: severity, extent and JSON."""

from __future__ import annotations

import json

import numpy as np

from tests.tools.detect.synth import HOUR, seasonal
from tools.detect import find_anomalies, score_series
from tools.detect.anomalies import severity_of


def test_severity_grows_with_the_score() -> None:
    assert severity_of(5.0, 4.5) == "low"
    assert severity_of(-8.0, 4.5) == "medium"
    assert severity_of(30.0, 4.5) == "high"


def test_extent_peak_and_json() -> None:
    values = seasonal(6, noise=1.0)
    values[400:404] -= np.array([10.0, 30.0, 60.0, 20.0])
    result = score_series(1_700_006_400 + HOUR * np.arange(values.size), values)
    [found] = find_anomalies(result)
    assert found.direction == "down" and found.severity == "high"
    assert found.peak_score <= found.score < 0
    assert found.end_index is not None and 403 <= found.end_index <= 405
    out = json.loads(json.dumps(found.as_json()))
    assert out["alert_time"].endswith("Z") and out["evidence"]["model"]
    start, end = out["evidence"]["scale_window"]
    assert 0 <= start < end <= found.alert_index


def test_an_excursion_still_running_at_the_end_has_no_end() -> None:
    values = seasonal(6, days=10, noise=1.0)
    values[-3:] += 50
    [found] = find_anomalies(score_series(HOUR * np.arange(values.size), values))
    assert found.end_index is None
