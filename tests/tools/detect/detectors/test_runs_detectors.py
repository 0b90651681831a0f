"""Detectors on runs: job failures (and sync failures), late data against the learned
schedule, and code changes between runs."""

from __future__ import annotations

from tests.tools.detect.storedata import (
    DAY,
    HOUR,
    T0,
    Dataset,
    run_events,
    send_catalog,
    send_events,
)
from tools.anomalies import Detection
from tools.detect.detectors.changes import code_changes
from tools.detect.detectors.freshness import overdue
from tools.detect.engine import detect
from tools.detect.settings import DetectSettings
from tools.detect.signals import Landing, RunAsOf
from tools.nodes import NodeRef
from tools.store import Store

MIN = 60_000_000
SNOW = "snowflake://acme"
JOB = ("dbt://acme", "stg_crm")
SYNC = ("hightouch://acme", "sync.cart_to_braze")
OUT = Dataset(SNOW, "stg_crm", [("id", "varchar")], rows=1000)
ACT = Dataset("braze://acme", "audience.cart", [("external_id", "string")], rows=500)


def _daily(job: tuple[str, str], out: Dataset, days: range, state: str = "COMPLETE",
           error: str | None = None, attempt: int = 0) -> list[dict[str, object]]:
    events = []
    for d in days:
        slot = T0 + d * DAY + 2 * HOUR
        events += run_events(job, slot, slot + MIN, slot + 20 * MIN, state, outputs=[out],
                             error=error, attempt=attempt)
    return events


def _kinds(found: list[Detection], kind: str) -> list[Detection]:
    return [d for d in found if d.kind == kind]


def test_repeated_failure_is_high_with_its_error(store: Store) -> None:
    send_events(store, _daily(JOB, OUT, range(6))
                + _daily(JOB, OUT, range(6, 7), "FAIL", "Numeric value 'N/A'")
                + _daily(JOB, OUT, range(6, 7), "FAIL", "Numeric value 'N/A'", attempt=1))
    (d,) = _kinds(detect(store, T0 + 6 * DAY + 4 * HOUR, DetectSettings()), "job_failure")
    assert str(d.node) == f"job:{JOB[0]}:{JOB[1]}" and d.metric == "run.state"
    assert d.severity == "high" and d.onset_us == T0 + 6 * DAY + 2 * HOUR
    assert d.evidence["error_messages"] == ["Numeric value 'N/A'"]
    assert "failed 2 time(s) in 1 scheduled run(s)" in d.summary


def test_one_failure_then_a_rerun_is_benign(store: Store) -> None:
    send_events(store, _daily(JOB, OUT, range(6))
                + _daily(JOB, OUT, range(6, 7), "FAIL", "deadlock"))
    at_fail = T0 + 6 * DAY + 3 * HOUR
    (d,) = _kinds(detect(store, at_fail, DetectSettings()), "job_failure")
    assert d.severity == "low", "a retry within the interval may still fix it"
    slot = T0 + 6 * DAY + 2 * HOUR
    send_events(store, run_events(JOB, slot, slot + HOUR, slot + 80 * MIN, "COMPLETE",
                                  outputs=[OUT], attempt=1))
    assert _kinds(detect(store, at_fail + HOUR, DetectSettings()), "job_failure") == []


def test_a_lone_failure_nobody_reruns_turns_high(store: Store) -> None:
    send_events(store, _daily(JOB, OUT, range(6))
                + _daily(JOB, OUT, range(6, 7), "FAIL", "deadlock"))
    (d,) = _kinds(detect(store, T0 + 7 * DAY + 3 * HOUR, DetectSettings()), "job_failure")
    assert d.severity == "high"


def test_failing_reverse_etl_sync_is_sync_failure(store: Store) -> None:
    send_events(store, _daily(SYNC, ACT, range(6))
                + _daily(SYNC, ACT, range(6, 7), "FAIL", "401 Unauthorized"))
    send_catalog(store, [{"node": f"dataset:{ACT.namespace}:{ACT.name}", "kind": "activation"}])
    found = detect(store, T0 + 7 * DAY + 3 * HOUR, DetectSettings())
    assert _kinds(found, "job_failure") == []
    (d,) = [x for x in _kinds(found, "sync_failure") if x.metric == "run.state"]
    assert d.severity == "high", "it outlived its schedule slot"


def test_missing_daily_write_is_late_from_its_slot(store: Store) -> None:
    send_events(store, _daily(JOB, OUT, range(6)))
    ds = f"dataset:{SNOW}:stg_crm"
    on_time = detect(store, T0 + 5 * DAY + 23 * HOUR, DetectSettings())
    assert [d for d in _kinds(on_time, "late_data") if str(d.node) == ds] == []
    late = [d for d in _kinds(detect(store, T0 + 6 * DAY + 5 * HOUR, DetectSettings()),
                              "late_data") if str(d.node) == ds and d.metric == "freshness"]
    (d,) = late
    assert d.onset_us == T0 + 6 * DAY + 2 * HOUR + 20 * MIN, "when it should have landed"
    assert d.severity == "medium" and d.evidence["missed_slots"] == 1
    assert d.observed is not None and d.upper is not None and d.observed > d.upper


def _landings(delays_min: list[int]) -> list[Landing]:
    job = NodeRef.job(*JOB)
    return [Landing(T0 + h * HOUR, T0 + h * HOUR + m * MIN, job) for h, m in enumerate(delays_min)]


def test_persistent_delay_is_one_episode_from_its_first_late_write() -> None:
    ds = NodeRef.dataset(SNOW, "stg_web")
    landed = _landings([5] * 20 + [95, 95])
    # 22 hourly slots; slot 20 and 21 landed 90 minutes late and slot 22 is overdue.
    d = overdue(ds, landed, [], T0 + 22 * HOUR + 40 * MIN)
    assert d is not None and d.onset_us == T0 + 20 * HOUR + 5 * MIN
    assert overdue(ds, _landings([5] * 22), [], T0 + 22 * HOUR + 10 * MIN) is None


def _run(i: int, sql: str | None, started: int) -> RunAsOf:
    facets = {"job": {"sql": {"query": sql}}} if sql is not None else {}
    return RunAsOf(i, NodeRef.job(*JOB), "COMPLETE", started, started, started + MIN, None,
                   facets)


def test_code_change_between_runs_is_info_with_a_diff() -> None:
    job = NodeRef.job(*JOB)
    old, new = "select *\nfrom a\nwhere x", "select *\nfrom a\nwhere x or y"
    runs = [_run(i, old, T0 + i * DAY) for i in range(5)] + [_run(5, new, T0 + 5 * DAY)]
    (d,) = code_changes(job, runs, T0 + 5 * DAY + HOUR)
    assert d.kind == "code_change" and d.severity == "info" and d.metric == "job.sql"
    assert d.onset_us == T0 + 5 * DAY
    assert "+1 -1 lines" in d.summary and "-where x" in d.evidence["diff"]
    assert code_changes(job, runs, T0 + 7 * DAY), "still news two days on"
    assert code_changes(job, runs, T0 + 8 * DAY + 1) == [], "old news after three days"
    assert code_changes(job, runs[:5], T0 + 5 * DAY) == []
    assert code_changes(job, [_run(0, None, T0), _run(1, old, T0 + DAY)], T0 + DAY) == []
