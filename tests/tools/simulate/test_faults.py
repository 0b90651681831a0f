from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tools.simulate import (
    FAULT_KINDS,
    FaultSpec,
    SimConfig,
    SimConfigError,
    Simulation,
    list_scenarios,
)

END = datetime(2025, 3, 12, tzinfo=UTC)


def _contract_kinds(shared_data: Path) -> list[str]:
    text = (shared_data.parent / "TELEMETRY.md").read_text()
    section = text.split("## 7. Fault kinds", 1)[1]
    return re.findall(r"`([a-z_]+)`", section)


def test_catalogue_covers_every_fault_kind_of_the_contract(shared_data: Path) -> None:
    kinds = _contract_kinds(shared_data)
    assert len(kinds) == 18
    assert set(FAULT_KINDS) == set(kinds)
    scenarios = list_scenarios()
    assert {s.kind for s in scenarios} == set(kinds)
    assert len({s.name for s in scenarios}) == len(scenarios)
    for s in scenarios:
        assert s.description and s.target


def test_every_scenario_has_a_default_root_and_a_truth_at_size_40() -> None:
    for info in list_scenarios():
        sim = Simulation(SimConfig(end=END, size=40, days=8, scenarios=[FaultSpec(info.name)]))
        [case] = sim.truth()
        assert case["scenario"] == info.name and case["kind"] == info.kind
        assert case["start"] == "2025-03-10T12:00:00Z"
        assert case["symptoms"], info.name
        assert case["impacted"] == list(dict.fromkeys(
            s["node"] for s in sorted(case["symptoms"], key=lambda s: s["onset"])))
        for s in case["symptoms"]:
            assert s["kind"] in FAULT_KINDS
            assert s["onset"] >= case["start"]
        for node in case["at_risk"]:
            assert sim.topology.node(node).kind in ("audience", "activation", "campaign")


def test_faults_reach_audiences_and_name_them_at_risk() -> None:
    sim = Simulation(SimConfig(end=END, size=40, days=8,
                               scenarios=[FaultSpec("renamed_source_column")]))
    [case] = sim.truth()
    assert case["root"] == "dataset:s3://acme-crm-exports:crm/contacts"
    kinds = {(s["node"].split(":")[-1], s["kind"]) for s in case["symptoms"]}
    assert ("crm/contacts", "schema_drift") in kinds
    assert ("analytics.staging.stg_crm_contacts", "null_spike") in kinds
    assert ("analytics.identity.unified_profiles", "orphan_profiles") in kinds
    assert ("audience.cart_abandoners", "audience_drop") in kinds
    assert "dataset:braze://acme:campaign.cart_recovery_flow" in case["at_risk"]


def test_a_chosen_node_and_start_are_honoured() -> None:
    node = "job:dbt://acme:analytics.marts.fct_orders"
    start = END - timedelta(days=3)
    sim = Simulation(SimConfig(end=END, size=40, days=8,
                               scenarios=[FaultSpec("failed_staging_job", node, start)]))
    [case] = sim.truth()
    assert case["root"] == node and case["start"] == "2025-03-09T00:00:00Z"
    assert case["symptoms"][0]["onset"].startswith("2025-03-09T03")


def test_no_fault_gives_an_empty_truth() -> None:
    assert Simulation(SimConfig(end=END, size=40, days=5)).truth() == []


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (FaultSpec("no_such_thing"), "unknown scenario 'no_such_thing'"),
        (FaultSpec("expired_vendor_token", "dataset:s3://acme-pos:orders/daily"),
         "reverse-ETL sync job"),
        (FaultSpec("late_file_drop", "dataset:nowhere:x"), "unknown node"),
        (FaultSpec("late_file_drop", start=END - timedelta(days=7, hours=23)),
         "two days of normal history"),
        (FaultSpec("late_file_drop", start=END - timedelta(hours=1)), "before the end"),
        (FaultSpec("late_file_drop", start=datetime(2025, 3, 10)), "timezone-aware"),
        (FaultSpec("campaign_pacing_bug", start=END - timedelta(hours=3)), "no symptom"),
    ],
)
def test_bad_fault_specs_are_refused_with_a_reason(spec: FaultSpec, message: str) -> None:
    with pytest.raises(SimConfigError, match=message):
        Simulation(SimConfig(end=END, size=40, days=8, scenarios=[spec]))


def test_scenarios_needing_a_missing_part_say_so() -> None:
    with pytest.raises(SimConfigError, match="has none"):
        Simulation(SimConfig(end=END, size=12, days=8, scenarios=[FaultSpec("late_file_drop")]))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"end": datetime(2025, 3, 12)}, "timezone-aware UTC"),
        ({"end": datetime(2025, 3, 12, 10, 30, tzinfo=UTC)}, "whole hour"),
        ({"days": 2}, "days must be between"),
        ({"size": 5}, "size must be between"),
        ({"seed": -1}, "seed must be between"),
    ],
)
def test_bad_configs_are_refused(change: dict[str, object], message: str) -> None:
    base: dict[str, object] = {"end": END, "size": 40, "days": 8}
    with pytest.raises(SimConfigError, match=message):
        Simulation(SimConfig(**{**base, **change}))  # type: ignore[arg-type]


def test_a_short_period_keeps_two_days_of_history_before_the_default_start() -> None:
    sim = Simulation(SimConfig(end=END, size=40, days=3,
                               scenarios=[FaultSpec("expired_vendor_token")]))
    assert sim.truth()[0]["start"] == "2025-03-11T00:00:00Z"
