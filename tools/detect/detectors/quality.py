"""Column quality: null spikes and duplicate keys.

Null fractions come from OTLP ``data.null_fraction{column}`` and from dataset versions
(``nullCount / rowCount``); duplicate fractions from ``data.duplicate_fraction{column}``
and from ``1 - distinctCount(key) / rowCount``. Both are fractions, so the floors are in
percentage points: a column going from 0.1% to 0.3% null is noise, not an incident.
"""

from __future__ import annotations

from tools.detect.detectors.base import Detector, MetricRule

NULLS = MetricRule("data.null_fraction", up="null_spike", down=None,
                   noun="null fraction of column {column}", unit="fraction",
                   min_abs_change=0.05, min_rel_change=0.05)
DUPLICATES = MetricRule("data.duplicate_fraction", up="duplicates", down=None,
                        noun="duplicate fraction of key {column}", unit="fraction",
                        min_abs_change=0.01, min_rel_change=0.05)


class QualityDetector(Detector):
    name = "quality"
    rules = (NULLS, DUPLICATES)
