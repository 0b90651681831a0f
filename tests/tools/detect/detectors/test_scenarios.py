"""Every scenario of the fault catalogue, simulated into a store and detected there.

Scenarios whose symptoms do not touch the same nodes share one simulated stack (size 40,
14 days to 2025-03-10, faults from 36 hours before the end), so twenty scenarios need ten
stores. ``run_detection`` runs as of a few moments after the faults (a few hours after
each cluster of truth onsets, as a periodic job would), and every truth symptom must then
be among the anomalies (open or resolved) with the same node and kind, its onset within
one schedule interval of the truth's (the node's writer's interval: 1 h for hourly jobs,
6 h for syncs, 24 h for daily loads).

KNOWN_MISSES lists the symptoms the simulator propagates that are below what a pointwise
4.5-sigma detector can see, each with the numbers that say why.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from tests.tools.detect.storedata import HOUR, load_sim
from tools.anomalies import AnomalyView, list_anomalies
from tools.detect.engine import detect, run_detection
from tools.detect.settings import DetectSettings
from tools.faults import FAULT_KINDS
from tools.simulate import Simulation, list_scenarios
from tools.simulate.stack import Job
from tools.store import Store, open_store
from tools.timeutil import parse_micros

GROUPS: dict[str, tuple[str, ...]] = {
    "failures": ("failed_staging_job", "collector_event_loss", "vendor_rate_limit",
                 "expired_vendor_token", "campaign_pacing_bug"),
    "late": ("late_file_drop", "webhook_slowdown", "consent_export_missing_withdrawals",
             "dedup_removed_in_staging"),
    "volume": ("partial_pos_load", "bot_traffic_spike"),
    "mixed": ("duplicate_file_replay", "audience_definition_bug", "stream_consumer_lag"),
    "rename": ("renamed_source_column",),
    "nulls": ("null_emails_in_crm_export",),
    "overmerge": ("shared_identifier_overmerge",),
    "fragmentation": ("stitching_key_fragmentation",),
    "orphans": ("orphaned_profiles",),
    "deploy": ("identity_rule_change",),
}
GROUP_OF = {name: group for group, names in GROUPS.items() for name in names}
KNOWN_MISSES = {
    ("stream_consumer_lag", "dataset:braze://acme:audience.cart_abandoners", "latency_breach"):
        "+5400 s on an 8 h activation-stage latency with 5% noise: a 3.75 sigma shift",
    ("stitching_key_fragmentation", "dataset:google_ads://acme:campaign.high_value_search",
     "volume_spike"): "+13% against a level baseline on the heaviest weekday; 14 days are too "
                      "few for weekday factors (3.4 sigma)",
    ("stitching_key_fragmentation", "dataset:meta_ads://acme:campaign.cart_retargeting",
     "delivery_variance"): "+0.19 on a daily series whose sigma twelve points overstate 2x "
                           "(3.1 sigma)",
}
# A periodic detection run this long after a cluster of onsets sees all of them.
AFTER = 3 * HOUR
CLUSTER = 4 * HOUR


@dataclass(slots=True)
class Outcome:
    sim: Simulation
    store: Store
    anomalies: list[AnomalyView]
    times: list[int]


def detection_times(sim: Simulation) -> list[int]:
    """A few hours after each cluster of truth onsets (the latest in it), as of the end."""
    end = sim.clock.end_us
    pending = sorted({min(end, parse_micros(s["onset"]) + AFTER)
                      for t in sim.truth() for s in t["symptoms"]})
    out = []
    while pending:
        cluster = [t for t in pending if t <= pending[0] + CLUSTER]
        out.append(cluster[-1])
        pending = pending[len(cluster):]
    return out


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], Outcome]]:
    built: dict[str, Outcome] = {}

    def get(group: str) -> Outcome:
        if group not in built:
            folder = tmp_path_factory.mktemp(group)
            store = open_store(f"sqlite:///{folder / 'store.db'}")
            config = load_sim(store, folder, GROUPS[group])
            sim = Simulation(config)
            times = detection_times(sim)
            for at in times:
                run_detection(store, at, DetectSettings())
            built[group] = Outcome(sim, store, list_anomalies(store), times)
        return built[group]

    yield get
    for out in built.values():
        out.store.dispose()


def interval_h(sim: Simulation, node_id: str) -> int:
    """The schedule interval that bounds an onset error at this node, in hours."""
    topo = sim.topology
    node = topo.node(node_id)
    if isinstance(node, Job):
        return node.schedule.period_h
    if node.producer is not None:
        return topo.jobs[node.producer].schedule.period_h
    if node.arrival is not None:
        return 24
    return min(topo.jobs[j].schedule.period_h for j in node.consumers)


def test_groups_cover_every_scenario_and_fault_kind() -> None:
    assert sorted(GROUP_OF) == sorted(s.name for s in list_scenarios())
    assert {s.kind for s in list_scenarios()} == set(FAULT_KINDS)


@pytest.mark.parametrize("scenario", sorted(GROUP_OF))
def test_truth_symptoms_detected_with_onset(outcome: Callable[[str], Outcome],
                                            scenario: str) -> None:
    out = outcome(GROUP_OF[scenario])
    truth = next(t for t in out.sim.truth() if t["scenario"] == scenario)
    problems = []
    checked = 0
    for s in truth["symptoms"]:
        if (scenario, s["node"], s["kind"]) in KNOWN_MISSES:
            continue
        checked += 1
        onset = parse_micros(s["onset"])
        tolerance = interval_h(out.sim, s["node"]) * HOUR
        same = [a for a in out.anomalies if a.node == s["node"] and a.kind == s["kind"]]
        errors = sorted(abs(parse_micros(a.onset) - onset) for a in same)
        if not errors:
            problems.append(f"missed {s['kind']} at {s['node']} ({s['metric']}, {s['onset']})")
        elif errors[0] > tolerance:
            problems.append(f"{s['kind']} at {s['node']}: onset off by "
                            f"{errors[0] / HOUR:.1f} h (> {tolerance / HOUR:.0f} h)")
    assert checked > 0
    assert not problems, "\n".join(problems)


def test_the_root_kind_is_found_at_high_severity_where_it_is_a_fault(
        outcome: Callable[[str], Outcome]) -> None:
    """The fault itself (not a downstream echo) is reported as at least medium, except a
    code change, which is a change event (info) that investigations cite."""
    out = outcome("failures")
    for truth in out.sim.truth():
        at_root = [a for a in out.anomalies if a.node == truth["root"] or a.kind == truth["kind"]]
        assert any(a.kind == truth["kind"] and a.severity in ("medium", "high", "critical")
                   for a in at_root), truth["scenario"]
    deploy = outcome("deploy")
    changes = [a for a in deploy.anomalies if a.kind == "code_change"]
    assert changes and all(a.severity == "info" for a in changes)
    assert changes[0].evidence["diff"], "the diff summary is the evidence"


def test_nothing_is_detected_before_the_faults(outcome: Callable[[str], Outcome]) -> None:
    """Replay: as of two hours before the first fault starts, none of the symptoms exist."""
    out = outcome("failures")
    first = min(parse_micros(t["start"]) for t in out.sim.truth())
    early = detect(out.store, first - 2 * HOUR, DetectSettings())
    symptoms = {(s["node"], s["kind"]) for t in out.sim.truth() for s in t["symptoms"]}
    assert not [d for d in early if (str(d.node), d.kind) in symptoms]
    assert not [d for d in early if d.severity in ("medium", "high", "critical")]


def test_anomaly_evidence_is_small_and_explains_itself(
        outcome: Callable[[str], Outcome]) -> None:
    out = outcome("volume")
    drop = next(a for a in out.anomalies if a.kind == "volume_drop"
                and a.node.endswith("orders/daily"))
    assert drop.observed is not None and drop.expected is not None
    assert drop.lower is not None and drop.upper is not None
    assert drop.observed < drop.lower <= drop.expected <= drop.upper
    assert "row count fell" in drop.summary
    assert 0 < len(drop.evidence["points"]) <= 48
    assert drop.evidence["points"][-1][1] == pytest.approx(drop.observed)


def test_failure_evidence_carries_the_error_message(outcome: Callable[[str], Outcome]) -> None:
    out = outcome("failures")
    failed = next(a for a in out.anomalies if a.kind == "job_failure")
    assert "Numeric value 'N/A'" in " ".join(failed.evidence["error_messages"])
    sync = [a for a in out.anomalies if a.kind == "sync_failure" and a.metric == "run.state"]
    assert sync and sync[0].node.endswith("sync.cart_abandoners_to_meta_ads")
    new_code = [a for a in out.anomalies if a.attributes.get("error.code") == "401"]
    assert new_code and "new error code 401" in new_code[0].summary


def test_a_renamed_column_used_downstream_is_high_schema_drift(
        outcome: Callable[[str], Outcome]) -> None:
    out = outcome("rename")
    drift = [a for a in out.anomalies if a.kind == "schema_drift"]
    assert drift and drift[0].attributes == {"column": "email"}
    assert drift[0].severity == "high", "email is read by the staging model downstream"
    assert drift[0].evidence["change"] == "renamed"
    assert drift[0].evidence["new_name"] == "email_address"
