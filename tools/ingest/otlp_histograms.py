"""Histogram-like OTLP points -> the values stored for them.

A Histogram point gives ``.count``, ``.sum`` and p50/p95/p99 estimated from its explicit
buckets; a Summary point gives count, sum and the quantiles it carries; an
ExponentialHistogram point gives count and sum. Each value is (name suffix, quantile
label or None, value); a malformed point raises ValueError naming what is wrong.
"""

from __future__ import annotations

import math
from typing import Any

from tools.ingest.otlp_decode import get

QUANTILES = (0.5, 0.95, 0.99)

# Values derived from one histogram-like point: (name suffix, quantile label, value).
Derived = list[tuple[str, str | None, float]]


def quantile_label(q: float) -> str:
    """0.5 -> '0.5', 0.95 -> '0.95', 1.0 -> '1': the ``quantile`` attribute value."""
    return f"{q:g}"


def bucket_quantile(
    q: float,
    bounds: list[float],
    counts: list[int],
    lo: float | None = None,
    hi: float | None = None,
) -> float | None:
    """The q-quantile of an explicit-bucket histogram, interpolating linearly in its bucket.

    Bucket i holds (bounds[i-1], bounds[i]]; the first is open below, the last above.
    Their open ends are closed by the point's min and max when sent, else (as Prometheus
    does) the first bucket starts at 0 when its bound is positive and the last bucket
    answers with its lower bound. None when the histogram is empty or has no usable edge.
    """
    total = sum(counts)
    if total <= 0:
        return None
    rank = q * total
    cum = 0
    for i, c in enumerate(counts):
        if c <= 0:
            continue
        if cum + c >= rank:
            upper = bounds[i] if i < len(bounds) else hi
            if i > 0:
                lower: float | None = bounds[i - 1]
            elif lo is not None:
                lower = lo
            elif bounds and bounds[0] > 0:
                lower = 0.0
            else:
                lower = upper
            if upper is None:
                upper = lower
            if lower is None or upper is None:
                return None
            value = lower + (upper - lower) * (rank - cum) / c
            if lo is not None:
                value = max(value, lo)
            if hi is not None:
                value = min(value, hi)
            return value
        cum += c
    return None


def histogram_values(p: dict[str, Any]) -> Derived:
    """count, sum and p50/p95/p99 of an explicit-bucket histogram point."""
    count = _count(p)
    out = _count_sum(p, count)
    counts = [_int(c, "bucketCounts") for c in get(p, "bucketCounts", "bucket_counts") or []]
    bounds = [
        _finite(b, "explicitBounds") for b in get(p, "explicitBounds", "explicit_bounds") or []
    ]
    if counts and len(counts) != len(bounds) + 1:
        raise ValueError(
            f"histogram has {len(counts)} bucketCounts for {len(bounds)} "
            f"explicitBounds (expected {len(bounds) + 1})"
        )
    lo = _opt_finite(p.get("min"), "min")
    hi = _opt_finite(p.get("max"), "max")
    if counts:
        for q in QUANTILES:
            value = bucket_quantile(q, bounds, counts, lo, hi)
            if value is not None:
                out.append(("", quantile_label(q), value))
    return out


def summary_values(p: dict[str, Any]) -> Derived:
    """count, sum and the quantiles a summary point carries."""
    out = _count_sum(p, _count(p))
    for qv in get(p, "quantileValues", "quantile_values") or []:
        if not isinstance(qv, dict):
            raise ValueError("quantileValues entries must be objects")
        q = _finite(qv.get("quantile", 0.0), "quantile")
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"quantile {q} is outside [0, 1]")
        out.append(("", quantile_label(q), _finite(qv.get("value", 0.0), "quantile value")))
    return out


def exponential_values(p: dict[str, Any]) -> Derived:
    """count and sum of an exponential histogram point (its buckets are not read)."""
    return _count_sum(p, _count(p))


def _count(p: dict[str, Any]) -> int:
    return _int(p.get("count", 0), "count")


def _count_sum(p: dict[str, Any], count: int) -> Derived:
    out: list[tuple[str, str | None, float]] = [(".count", None, float(count))]
    total = p.get("sum")
    if total is not None:
        out.append((".sum", None, _finite(total, "sum")))
    return out


def _int(value: Any, what: str) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} {value!r} is not an integer") from None
    if n < 0:
        raise ValueError(f"{what} {n} is negative")
    return n


def _finite(value: Any, what: str) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} {value!r} is not a number") from None
    if not math.isfinite(x):
        raise ValueError(f"{what} {value!r} is not a finite number")
    return x


def _opt_finite(value: Any, what: str) -> float | None:
    return None if value is None else _finite(value, what)


__all__ = [
    "QUANTILES",
    "Derived",
    "bucket_quantile",
    "exponential_values",
    "histogram_values",
    "quantile_label",
    "summary_values",
]
