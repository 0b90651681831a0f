"""CSV files -> series, and the file-level detector the CLI wraps."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.tools.detect.synth import seasonal
from tools.detect.csvseries import analyse_series_file, detect_series_file, read_series_csv
from tools.detect.diagnostics import DetectInputError


def write(tmp_path: Path, text: str, name: str = "series.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_header_is_optional_and_timestamps_may_be_iso_or_epoch(tmp_path: Path) -> None:
    with_header = write(tmp_path, "timestamp,value\n2024-01-01 00:00:00,1.5\n"
                        "2024-01-01T01:00:00Z,2\n", "a.csv")
    bare = write(tmp_path, "1704067200,1.5\n1704070800.0,2\n", "b.csv")
    for path in (with_header, bare):
        ts, values, diag = read_series_csv(path)
        assert ts.tolist() == [1704067200, 1704070800]
        assert values.tolist() == [1.5, 2.0]
        assert diag.issues == []


def test_bad_rows_are_skipped_and_reported_with_line_numbers(tmp_path: Path) -> None:
    path = write(tmp_path, "timestamp,value\n"
                 "2024-01-01 00:00,1\n"
                 "yesterday,2\n"
                 "2024-01-01 02:00,abc\n"
                 "2024-01-01 03:00\n"
                 "\n"
                 "2024-01-01 04:00,\n"
                 "2024-01-01 05:00,nan\n")
    ts, values, diag = read_series_csv(path)
    assert ts.size == 2 and np.isnan(values[1])
    messages = [issue.message for issue in diag.issues]
    assert [issue.count for issue in diag.issues] == [3, 4, 5, 7]
    assert "line 3" in messages[0] and "'yesterday'" in messages[0]
    assert "line 4" in messages[1] and "'abc' is not a number" in messages[1]
    assert "line 5" in messages[2] and "expected 2 fields" in messages[2]
    assert "line 7" in messages[3] and "empty value" in messages[3]


def test_many_bad_rows_are_summarised(tmp_path: Path) -> None:
    path = write(tmp_path, "".join(f"x{i},1\n" for i in range(30)))
    _, _, diag = read_series_csv(path)
    assert len(diag.issues) == 21
    assert "10 more bad row(s)" in diag.issues[-1].message


def test_unreadable_files_raise_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DetectInputError, match="no such file"):
        read_series_csv(tmp_path / "missing.csv")
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(DetectInputError, match="UTF-8"):
        read_series_csv(binary)


def test_detect_series_file_lists_each_anomaly_with_its_score(tmp_path: Path) -> None:
    values = seasonal(3, days=20, noise=2.0)
    values[300] += 40
    start = 1_700_006_400
    lines = [f"{start + 3600 * i},{float(v)!r}" for i, v in enumerate(values)]
    path = write(tmp_path, "timestamp,value\n" + "\n".join(lines) + "\nbroken,row\n")
    [found] = detect_series_file(path)
    assert found["onset_time"] == found["alert_time"]
    assert found["onset_ts"] == start + 3600 * 300
    assert found["score"] > 4.5 and found["direction"] == "up"
    assert found["evidence"]["baseline_indices"]
    json.dumps(found)  # plain JSON
    report = analyse_series_file(path)
    assert report.diagnostics.codes()[0] == "bad_row"
    assert report.as_json()["step_seconds"] == 3600


def test_empty_file_gives_no_anomalies_and_a_reason(tmp_path: Path) -> None:
    report = analyse_series_file(write(tmp_path, "timestamp,value\n"))
    assert report.anomalies == [] and report.diagnostics.has("empty")
