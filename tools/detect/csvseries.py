"""``timestamp,value`` CSV files -> a series, and the detector run over one file.

The header row is optional. Timestamps are ISO 8601 (a missing zone means UTC) or epoch
seconds. A row that cannot be read is skipped and reported with its line number; the rest
of the file is still used. Only an unreadable file raises (``DetectInputError``).
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tools.detect.anomalies import Anomaly, find_anomalies
from tools.detect.config import DetectorConfig
from tools.detect.diagnostics import DetectInputError, SeriesDiagnostics
from tools.detect.series import DEFAULT_CONFIG, SeriesResult, score_series
from tools.timeutil import parse_timestamp

BAD_ROW = "bad_row"
# Past this many, bad rows are summarised rather than listed one by one.
MAX_LISTED_BAD_ROWS = 20


def _parse_time(text: str) -> int:
    """ISO 8601 or epoch seconds -> epoch seconds. Raises ValueError with the reason."""
    stripped = text.strip()
    if not stripped:
        raise ValueError("empty timestamp")
    try:
        number = float(stripped)
    except ValueError:
        parsed = parse_timestamp(stripped)  # raises ValueError naming the text
        return math.floor(parsed.timestamp())
    if not math.isfinite(number) or abs(number) > 1e13:
        raise ValueError(f"{stripped!r} is not a usable epoch-seconds timestamp")
    return round(number)


def _parse_value(text: str) -> float:
    stripped = text.strip()
    if not stripped:
        raise ValueError("empty value")
    try:
        return float(stripped)
    except ValueError:
        raise ValueError(f"{stripped!r} is not a number") from None


def _looks_like_header(row: list[str]) -> bool:
    if len(row) < 2:
        return False
    try:
        _parse_value(row[1])
    except ValueError:
        try:
            _parse_time(row[0])
        except ValueError:
            return True
    return False


def read_series_csv(path: str | Path
                    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], SeriesDiagnostics]:
    """(epoch seconds, values, diagnostics). Values may hold NaN ("nan" in the file)."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DetectInputError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DetectInputError(f"{path}: cannot be read as UTF-8 text ({exc})") from None
    diag = SeriesDiagnostics()
    stamps: list[int] = []
    values: list[float] = []
    bad: list[tuple[int, str]] = []
    first = True
    for line_no, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or all(not cell.strip() for cell in row):
            continue
        if first:
            first = False
            if _looks_like_header(row):
                continue
        if len(row) != 2:
            bad.append((line_no, f"expected 2 fields (timestamp,value), found {len(row)}"))
            continue
        try:
            stamp = _parse_time(row[0])
            value = _parse_value(row[1])
        except ValueError as exc:
            bad.append((line_no, str(exc)))
            continue
        stamps.append(stamp)
        values.append(value)
    for line_no, reason in bad[:MAX_LISTED_BAD_ROWS]:
        diag.add(BAD_ROW, f"line {line_no}: {reason}; row skipped", line_no)
    if len(bad) > MAX_LISTED_BAD_ROWS:
        rest = len(bad) - MAX_LISTED_BAD_ROWS
        diag.add(BAD_ROW, f"{rest} more bad row(s) skipped, the last on line {bad[-1][0]}", rest)
    return np.asarray(stamps, dtype=np.int64), np.asarray(values, dtype=np.float64), diag


@dataclass(slots=True)
class SeriesFileReport:
    path: str
    result: SeriesResult
    anomalies: list[Anomaly] = field(default_factory=list)

    @property
    def diagnostics(self) -> SeriesDiagnostics:
        return self.result.diagnostics

    def as_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "points": int(self.result.values.size),
            "step_seconds": self.result.matrix.step_s,
            "anomalies": [anomaly.as_json() for anomaly in self.anomalies],
            "diagnostics": self.diagnostics.as_json(),
        }


def analyse_series_file(path: str | Path,
                        config: DetectorConfig = DEFAULT_CONFIG) -> SeriesFileReport:
    """Read, regularise and score one CSV; CSV problems come first in the diagnostics."""
    stamps, values, read_diag = read_series_csv(path)
    result = score_series(stamps, values, config)
    result.diagnostics.issues[:0] = read_diag.issues
    return SeriesFileReport(str(path), result, find_anomalies(result))


def detect_series_file(path: str | Path,
                       config: DetectorConfig = DEFAULT_CONFIG) -> list[dict[str, Any]]:
    """One dict per anomaly: onset and alert time (ISO), score, direction, band, evidence."""
    return [anomaly.as_json() for anomaly in analyse_series_file(path, config).anomalies]
