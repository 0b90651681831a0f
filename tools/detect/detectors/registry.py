"""Every detector, by name (the names the settings file uses)."""

from __future__ import annotations

from tools.detect.detectors.activation import ActivationDetector
from tools.detect.detectors.base import Detector, MetricRule
from tools.detect.detectors.changes import ChangesDetector
from tools.detect.detectors.events import EventsDetector
from tools.detect.detectors.freshness import FreshnessDetector
from tools.detect.detectors.identity import IdentityDetector
from tools.detect.detectors.jobs import JobsDetector
from tools.detect.detectors.quality import QualityDetector
from tools.detect.detectors.schema import SchemaDetector
from tools.detect.detectors.volume import VolumeDetector
from tools.detect.settings import DETECTOR_NAMES
from tools.detect.slo import SloDetector

DETECTORS: tuple[Detector, ...] = (
    FreshnessDetector(),
    JobsDetector(),
    VolumeDetector(),
    QualityDetector(),
    SchemaDetector(),
    EventsDetector(),
    IdentityDetector(),
    ActivationDetector(),
    ChangesDetector(),
    SloDetector(),
)
_BY_NAME = {d.name: d for d in DETECTORS}
if tuple(_BY_NAME) != DETECTOR_NAMES:  # the settings validate names against this list
    raise RuntimeError(f"detector names {tuple(_BY_NAME)} differ from {DETECTOR_NAMES}")


def get_detector(name: str) -> Detector:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown detector {name!r}; known: {', '.join(_BY_NAME)}") from None


def rules_by_metric(detectors: tuple[Detector, ...] | list[Detector] = DETECTORS
                    ) -> dict[str, tuple[Detector, MetricRule]]:
    """metric name -> the detector (and its rule) that reads it."""
    out: dict[str, tuple[Detector, MetricRule]] = {}
    for det in detectors:
        for rule in det.rules:
            if rule.metric in out:
                raise RuntimeError(f"metric {rule.metric} claimed by {out[rule.metric][0].name} "
                                   f"and {det.name}")
            out[rule.metric] = (det, rule)
    return out


__all__ = ["DETECTORS", "get_detector", "rules_by_metric"]
