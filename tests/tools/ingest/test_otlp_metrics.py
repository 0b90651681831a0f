"""Metric parsing: series identity and per-point checks of histogram-like points."""

from __future__ import annotations

import orjson
import pytest

from tools.ingest.otlp_metrics import MetricsParser, attr_hash

NOW_US = 1_767_225_600_000_000
T0 = str(NOW_US * 1000 - 10**12)


def test_attribute_hash_is_canonical() -> None:
    assert attr_hash({"b": 1, "a": "x"}) == attr_hash({"a": "x", "b": 1})
    assert attr_hash({"a": "x"}) != attr_hash({"a": "y"})


def _histogram(**point: object) -> dict[str, object]:
    return {
        "resourceMetrics": [
            {
                "scopeMetrics": [
                    {
                        "metrics": [
                            {
                                "name": "lat",
                                "histogram": {"dataPoints": [{"timeUnixNano": T0, **point}]},
                            }
                        ]
                    }
                ]
            }
        ]
    }


@pytest.mark.parametrize(
    ("point", "reason"),
    [
        (
            {"count": "3", "bucketCounts": ["1", "2"], "explicitBounds": []},
            "histogram has 2 bucketCounts for 0 explicitBounds (expected 1)",
        ),
        ({"count": "3", "sum": "NaN"}, "sum 'NaN' is not a finite number"),
        ({"count": "-1"}, "count -1 is negative"),
        (
            {"count": "3", "bucketCounts": ["1", "x"], "explicitBounds": [1.0]},
            "bucketCounts 'x' is not an integer",
        ),
    ],
)
def test_malformed_histogram_points_are_rejected_with_a_reason(
    point: dict[str, object], reason: str
) -> None:
    batch = MetricsParser(NOW_US).parse(orjson.loads(orjson.dumps(_histogram(**point))))
    assert batch.size == 0
    assert [r.reason for r in batch.rejects.items] == [f"metric 'lat': {reason}"]


def test_overlong_metric_names_are_rejected() -> None:
    request = {"resourceMetrics": [{"scopeMetrics": [{"metrics": [{"name": "m" * 300}]}]}]}
    batch = MetricsParser(NOW_US).parse(request)
    (rejected,) = batch.rejects.items
    assert "is longer than 240 characters" in rejected.reason
