"""Detectors per fault kind (TELEMETRY.md §7), built on the numeric core in tools.detect.

``registry.DETECTORS`` lists them; ``tools.detect.engine`` runs them. (The registry is not
imported here: it imports the SLO detector, which itself builds on ``detectors.base``.)
"""

from tools.detect.detectors.base import DetectContext, Detector, Finding, MetricRule

__all__ = ["DetectContext", "Detector", "Finding", "MetricRule"]
