"""Root-cause accuracy on generated simulator cases, every fault kind, and no-fault runs.

The full table (more seeds and sizes, next to the BARO baseline) is `python -m
evals.rca_eval`; this test runs one generated seed per scenario so a regression in
detection, grouping or ranking fails the suite.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

import pytest

from evals.rca import Report, make_cases, run_case

pytestmark = pytest.mark.slow


def test_rca_accuracy_meets_the_targets() -> None:
    cases = make_cases(seeds=[101], sizes=[36], no_fault=4, days=10)
    with ProcessPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(run_case, cases))
    report = Report(outcomes)
    table = report.table()["flowsleuth"]
    misses = "\n".join(report.misses())
    assert table["top1"] >= 0.9, misses
    assert table["top3"] >= 0.95, misses
    assert table["kind_at_1"] >= 0.85, misses
    assert table["false_incident_rate"] <= 0.25
    assert table["blast_precision"] >= 0.9 and table["blast_recall"] >= 0.85
    # The baseline runs on the same cases: flowsleuth must beat it clearly.
    assert table["top1"] > report.table()["baro"]["top1"] + 0.3
