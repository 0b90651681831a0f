"""NaN-aware medians and trimmed means match numpy's reference definitions."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tools.detect.nanstats import nanmedian, trimmed_mean

values = st.one_of(st.floats(-1e6, 1e6, allow_nan=False), st.just(np.nan))


def reference_trimmed(row: np.ndarray) -> float:
    kept = np.sort(row[~np.isnan(row)])
    if kept.size == 0:
        return float("nan")
    if kept.size <= 3:
        return float(np.median(kept))
    trim = max(kept.size // 4, 1)
    return float(kept[trim : kept.size - trim].mean())


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(1, 12)),
                  elements=values))
def test_match_the_reference(a: np.ndarray) -> None:
    with np.errstate(all="ignore"):
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            expected = np.nanmedian(a, axis=-1)
    assert np.allclose(nanmedian(a), expected, equal_nan=True)
    trimmed = [reference_trimmed(row) for row in a]
    assert np.allclose(trimmed_mean(a), trimmed, equal_nan=True, rtol=1e-9, atol=1e-6)


def test_trimmed_mean_shrugs_off_one_outlier_each_side() -> None:
    row = np.array([[10.0, 11, 9, 10, 1e6, -1e6, 10]])
    assert trimmed_mean(row)[0] == 10.0
