"""The grounding check: explanations may name only nodes, numbers and times in evidence."""

from __future__ import annotations

from typing import Any

import pytest

from agent.llm.grounding import check, facts_from_pack
from agent.llm.narrator import narrate

NODE = "dataset:s3://acme-crm:crm/contacts"
STG = "dataset:snowflake://acme:analytics.staging.stg_contacts"


def pack() -> dict[str, Any]:
    return {
        "incident": {
            "id": 3,
            "title": "schema drift at crm/contacts",
            "severity": "high",
            "status": "open",
            "opened_at": "2026-03-09T02:40:50.2Z",
        },
        "counts": {"symptoms": 2, "hypotheses": 2, "alternatives": 1, "evidence": 1},
        "symptoms": [
            {
                "id": "anomaly:12",
                "node": NODE,
                "kind": "schema_drift",
                "metric": "schema",
                "onset": "2026-03-09T02:40:50.2Z",
                "observed": None,
                "expected": None,
                "severity": "high",
                "summary": "column email renamed to email_address",
            },
            {
                "id": "anomaly:13",
                "node": STG,
                "kind": "null_spike",
                "metric": "data.null_fraction",
                "onset": "2026-03-09T03:00:00Z",
                "observed": 0.6612,
                "expected": 0.012,
                "severity": "high",
                "summary": "nulls",
            },
        ],
        "hypotheses": [
            {
                "id": "cause:1",
                "rank": 1,
                "node": NODE,
                "kind": "schema_drift",
                "confidence": 0.9312,
                "onset": "2026-03-09T02:40:50.2Z",
                "explains": [],
                "status": "leading",
                "for": [{"ref": "anomaly:12", "text": "2 of 2 symptoms"}],
                "against": [],
            },
            {
                "id": "cause:2",
                "rank": 2,
                "node": STG,
                "kind": "null_spike",
                "confidence": 0.0688,
                "onset": "2026-03-09T03:00:00Z",
                "explains": [],
                "status": "rejected",
                "why": "upstream shows schema_drift earlier",
                "for": [],
                "against": [],
            },
        ],
        "evidence": [
            {
                "id": "schema:7",
                "family": "schema",
                "node": NODE,
                "text": "schema of crm/contacts changed: removed email; added email_address",
                "data": {"removed": ["email"], "added": ["email_address"]},
            },
        ],
        "impact": {
            "revenue_at_risk_per_day": 18500.0,
            "campaigns_affected": 1,
            "owners": ["lifecycle-marketing"],
            "at_risk": [],
        },
        "candidate_actions": [
            {
                "action": "notify_owner",
                "playbook": "notify_owners",
                "tier": "low",
                "auto_apply": True,
                "description": "Notify",
            }
        ],
    }


GOOD = (
    "What we know: crm/contacts renamed email to email_address [schema:7]; nulls in "
    "stg_contacts rose to 66% against 1.2% [anomaly:13].\n"
    "What we suspect: schema_drift at dataset:s3://acme-crm:crm/contacts since "
    "2026-03-09 02:40Z, confidence 93% [cause:1]. $18,500/day (18.5k) at risk.\n"
    "Alternatives rejected: null_spike at stg_contacts (7%) [cause:2], it began later.\n"
    "What to do: notify_owner."
)


def test_a_grounded_explanation_passes() -> None:
    verdict = check(GOOD, facts_from_pack(pack()))
    assert verdict.ok, verdict.problems
    assert verdict.citations == ["schema:7", "anomaly:13", "cause:1", "cause:2"]


@pytest.mark.parametrize(
    ("bad", "invented", "named"),
    [
        (NODE, "dataset:s3://acme-crm:crm/ghost_table", "ghost_table"),
        ("stg_contacts rose", "stg_orders_v2 rose", "stg_orders_v2"),
        ("93%", "97%", "97%"),
        ("$18,500/day", "$42,000/day", "42,000"),
        ("[schema:7]", "[run:made-up]", "run:made-up"),
        ("2026-03-09 02:40Z", "2026-03-11 09:15Z", "2026-03-11"),
        ("66% against 1.2%", "66% against 4.7%", "4.7%"),
        ("notify_owner", "`drop_table`", "drop_table"),
    ],
)
def test_an_invented_node_number_time_or_citation_is_rejected(
    bad: str, invented: str, named: str
) -> None:
    assert bad in GOOD
    verdict = check(GOOD.replace(bad, invented), facts_from_pack(pack()))
    assert not verdict.ok
    assert any(named in p for p in verdict.problems), verdict.problems


def test_confidence_citations_and_alternatives_are_required() -> None:
    facts = facts_from_pack(pack())
    bare = "schema_drift at crm/contacts broke stg_contacts."
    problems = " ".join(check(bare, facts).problems)
    assert "cites no evidence" in problems
    assert "confidence" in problems
    assert "alternative" in problems


def test_the_narrator_is_always_grounded() -> None:
    text = narrate(pack())
    verdict = check(text, facts_from_pack(pack()))
    assert verdict.ok, verdict.problems
    assert "What we know" in text and "Alternatives rejected" in text
    assert "confidence 93%" in text and "[cause:2]" in text


def test_the_narrator_handles_an_incident_without_causes() -> None:
    empty = pack() | {"hypotheses": [], "candidate_actions": [], "evidence": []}
    text = narrate(empty)
    assert "no root cause could be located" in text
    assert "no playbook matches" in text
