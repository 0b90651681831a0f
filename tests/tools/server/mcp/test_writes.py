"""Write tools: proposing applies nothing, approval requests change nothing, only what the
policy marks low risk can be applied, and no tool call under any arguments performs a
high-impact action."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client

from tests.tools.server.mcp.support import (
    CRM,
    NOW_US,
    STG_CRM,
    Facts,
    simulator_registry,
    structured,
    with_client,
)
from tools.runbooks import list_audit, list_proposals
from tools.runbooks.executors import InMemorySimulator, JournalEntry, SimulatorExecutor
from tools.runbooks.policy import PolicyConfig
from tools.server.mcp import build_mcp_server
from tools.store import Store, open_store

# States a proposal reaches only once something approved it.
ACTED = {"approved", "applying", "applied", "failed", "rolling_back", "rolled_back",
         "rollback_failed"}


def _simulated(store: Store, **options: Any) -> tuple[Any, list[JournalEntry]]:
    """A write-enabled server whose actions all reach one in-memory simulator; returns the
    server and the simulator's journal of every capture, apply and rollback."""
    executor = SimulatorExecutor(InMemorySimulator())
    server = build_mcp_server(
        store,
        enable_writes=True,
        clock=lambda: NOW_US,
        executors=lambda: simulator_registry(executor),
        **options,
    )
    return server, executor.journal


def _applied(journal: list[JournalEntry]) -> list[str]:
    return [e.action for e in journal if e.call == "apply"]


@pytest.fixture
def store(sim_copy: str) -> Iterator[Store]:
    s = open_store(sim_copy, migrate_schema=False)
    yield s
    s.dispose()


def test_propose_request_and_apply_only_low_risk(store: Store, sim_facts: Facts) -> None:
    server, journal = _simulated(store)
    incident = sim_facts.schema_incident

    async def body(client: Client) -> None:
        proposed = structured(
            await client.call_tool("propose_remediation", {"incident_id": incident})
        )["result"]
        assert proposed["applied"] == 0 and "nothing was applied" in proposed["next_steps"]
        by_type = {p["action_type"]: p for p in proposed["proposals"]}
        assert by_type["notify_owner"]["tier"] == "low"
        assert by_type["fallback_audience_snapshot"]["tier"] == "high"
        assert all(p["status"] == "proposed" for p in proposed["proposals"])
        assert _applied(journal) == []

        high = by_type["fallback_audience_snapshot"]["id"]
        refused = await client.call_tool("apply_low_risk_proposal", {"proposal_id": high})
        assert refused.is_error
        text = refused.content[0].text  # type: ignore[union-attr]
        assert "high risk" in text and "request_approval" in text and "data-lead" in text

        asked = structured(
            await client.call_tool(
                "request_approval", {"proposal_id": high, "note": "audience shrank 80%"}
            )
        )["result"]
        assert asked["tier"] == "high" and asked["status"] == "proposed"
        assert asked["required_roles"] == ["data-lead"]

        low = by_type["notify_owner"]["id"]
        applied = structured(
            await client.call_tool("apply_low_risk_proposal", {"proposal_id": low})
        )["result"]
        assert applied["applied"] and applied["status"] == "applied"
        assert applied["decision"]["tier"] == "low"
        again = await client.call_tool("apply_low_risk_proposal", {"proposal_id": low})
        assert again.is_error and "is applied" in again.content[0].text  # type: ignore[union-attr]
        late = await client.call_tool("request_approval", {"proposal_id": low})
        assert late.is_error and "only a proposed action" in late.content[0].text  # type: ignore[union-attr]

        shown = structured(await client.call_tool("get_proposal", {"proposal_id": low}))
        assert shown["result"]["decided_by"] == "policy:auto"

    with_client(server, body)
    assert _applied(journal) == ["notify_owner"]
    events = [e.event for e in list_audit(store)]
    assert "approval_requested" in events and "policy_apply_refused" in events
    high_after = [p for p in list_proposals(store) if p.tier != "low"]
    assert high_after and all(p.status == "proposed" for p in high_after)


def test_the_policy_is_decided_again_at_apply_time(store: Store) -> None:
    server, journal = _simulated(store, policy=PolicyConfig(auto_apply=False))
    low = next(p.id for p in list_proposals(store) if p.action_type == "notify_owner")

    async def body(client: Client) -> None:
        refused = await client.call_tool("apply_low_risk_proposal", {"proposal_id": low})
        assert refused.is_error
        assert "does not let notify_owner apply automatically" in refused.content[0].text  # type: ignore[union-attr]

    with_client(server, body)
    assert journal == []


def test_run_detection_refreshes_anomalies_and_incidents(store: Store) -> None:
    server = build_mcp_server(store, enable_writes=True, clock=lambda: NOW_US)

    async def body(client: Client) -> None:
        run = structured(await client.call_tool("run_detection", {}))["result"]
        assert run["at"] == "2026-03-02T12:00:00Z" and run["anomalies_open"] > 0
        assert run["incidents"]
        listed = structured(await client.call_tool("list_anomalies", {"limit": 500}))
        assert len(listed["items"]) == run["anomalies_open"]

    with_client(server, body)


# -- no tool call performs a high-impact action ---------------------------------------------

# Mostly ids that exist (the prepared store has two incidents and a few proposals), some
# that do not, some of the wrong type.
IDS = st.one_of(
    st.integers(min_value=1, max_value=6),
    st.integers(min_value=1, max_value=6),
    st.integers(min_value=-1, max_value=99),
    st.just("3"),
    st.none(),
)
TEXT = st.one_of(st.none(), st.text(max_size=30), st.sampled_from([CRM, STG_CRM, "job:x:y"]))


def _arguments(schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Arguments drawn from a tool's input schema: required ones always given (so calls
    reach the tool), optional ones sometimes, values valid or not."""
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for name, prop in schema.get("properties", {}).items():
        if name.endswith("_id") or prop.get("type") == "integer":
            fields[name] = IDS
        elif prop.get("type") == "boolean":
            fields[name] = st.booleans()
        else:
            fields[name] = TEXT
    required = set(schema.get("required", []))
    return st.fixed_dictionaries(
        {k: v for k, v in fields.items() if k in required},
        optional={k: v for k, v in fields.items() if k not in required},
    )


@pytest.fixture(scope="module")
def portal() -> Iterator[BlockingPortal]:
    with start_blocking_portal() as p:
        yield p


def test_no_tool_call_performs_a_high_impact_action(
    sim_copy: str, portal: BlockingPortal
) -> None:
    store = open_store(sim_copy, migrate_schema=False)
    server, journal = _simulated(store)
    with portal.wrap_async_context_manager(Client(server)) as client:
        tools = portal.call(client.list_tools).tools
        runbooks = [t for t in tools if (t.meta or {}).get("family") == "runbooks"]
        # Most calls go to the runbook tools, where an action could happen at all.
        calls = st.one_of(
            st.sampled_from(runbooks), st.sampled_from(runbooks), st.sampled_from(tools)
        ).flatmap(
            lambda t: st.tuples(st.just(t.name), _arguments(t.input_schema))
        )

        @settings(
            max_examples=80,
            deadline=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.function_scoped_fixture],
        )
        @given(st.lists(calls, min_size=1, max_size=4))
        def run(sequence: list[tuple[str, dict[str, Any]]]) -> None:
            for name, args in sequence:
                portal.call(client.call_tool, name, args)
            acted = [p for p in list_proposals(store, limit=1000) if p.status in ACTED]
            for p in acted:
                # Only what the policy marked low risk moved, and only by the policy.
                assert p.tier == "low" and p.auto_apply_allowed, p
                assert p.decided_by == "policy:auto", p
            # The systems saw only those actions: nothing else was ever executed.
            executed = {e.action for e in journal if e.call in ("apply", "rollback")}
            assert executed <= {p.action_type for p in acted}, executed

        run()
    high = [p for p in list_proposals(store, limit=1000) if p.tier == "high"]
    assert high and all(p.status == "proposed" for p in high)
    store.dispose()
