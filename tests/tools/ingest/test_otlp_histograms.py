"""Explicit-bucket quantile estimates and the values derived from histogram-like points."""

from __future__ import annotations

import pytest

from tools.ingest.otlp_histograms import (
    bucket_quantile,
    exponential_values,
    histogram_values,
    quantile_label,
    summary_values,
)


def test_quantile_interpolates_inside_its_bucket() -> None:
    bounds, counts = [10.0, 20.0, 50.0], [10, 60, 25, 5]
    assert bucket_quantile(0.5, bounds, counts) == pytest.approx(10 + 10 * 40 / 60)
    assert bucket_quantile(0.95, bounds, counts) == pytest.approx(50.0)
    # No max: the +Inf bucket answers with its lower bound, as Prometheus does.
    assert bucket_quantile(0.99, bounds, counts) == pytest.approx(50.0)
    assert bucket_quantile(0.99, bounds, counts, hi=100.0) == pytest.approx(90.0)


def test_first_bucket_starts_at_zero_or_min_and_result_is_clamped() -> None:
    assert bucket_quantile(0.5, [100.0], [10, 0]) == pytest.approx(50.0)
    assert bucket_quantile(0.5, [100.0], [10, 0], lo=60.0) == pytest.approx(80.0)
    assert bucket_quantile(0.5, [-5.0, 5.0], [4, 0, 0]) == pytest.approx(-5.0)
    assert bucket_quantile(0.5, [10.0, 20.0], [0, 4, 0], lo=12.0, hi=14.0) == pytest.approx(14.0)


def test_empty_or_unbounded_histograms_have_no_quantile() -> None:
    assert bucket_quantile(0.5, [1.0, 2.0], [0, 0, 0]) is None
    assert bucket_quantile(0.5, [], [7]) is None
    assert bucket_quantile(0.5, [], [7], lo=1.0, hi=3.0) == pytest.approx(2.0)


def test_quantile_labels() -> None:
    assert [quantile_label(q) for q in (0.5, 0.95, 0.99, 1.0)] == ["0.5", "0.95", "0.99", "1"]


def test_derived_values_of_each_point_kind() -> None:
    hist = {"count": "4", "sum": 10, "bucketCounts": ["0", "4"], "explicitBounds": [1.0]}
    assert histogram_values(hist) == [
        (".count", None, 4.0),
        (".sum", None, 10.0),
        ("", "0.5", 1.0),
        ("", "0.95", 1.0),
        ("", "0.99", 1.0),
    ]
    summary = {"count": 2, "quantileValues": [{"quantile": 0.5, "value": 3}, {"value": 1}]}
    assert summary_values(summary) == [(".count", None, 2.0), ("", "0.5", 3.0), ("", "0", 1.0)]
    assert exponential_values({"count": "9", "sum": 4.5, "scale": 3}) == [
        (".count", None, 9.0),
        (".sum", None, 4.5),
    ]
    with pytest.raises(ValueError, match=r"quantile 1\.5 is outside"):
        summary_values({"quantileValues": [{"quantile": 1.5, "value": 1}]})
