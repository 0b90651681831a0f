"""Anomaly detection. The numeric core scores many time series at once with a causal,
robust, seasonal baseline; detectors per fault kind build on it."""

from tools.detect.anomalies import Anomaly, Evidence, find_anomalies
from tools.detect.config import DetectorConfig
from tools.detect.diagnostics import DetectInputError, Issue, SeriesDiagnostics
from tools.detect.series import MatrixResult, SeriesResult, score_matrix, score_series

__all__ = [
    "Anomaly",
    "DetectInputError",
    "DetectorConfig",
    "Evidence",
    "Issue",
    "MatrixResult",
    "SeriesDiagnostics",
    "SeriesResult",
    "find_anomalies",
    "score_matrix",
    "score_series",
]
