"""A store of simulated MarTech telemetry with anomalies and incidents, for MCP tests.

The simulation runs a CRM column rename (schema drift feeding null emails and a
shrinking audience) and a failing staging job (FAIL runs, error logs). Anomalies are
hand-made detections of those faults, folded in with the same functions the detectors
feed, so incidents, root causes and blast radius are the product's own.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
from mcp import Client

from tools.anomalies import Detection, list_anomalies, sync_anomalies
from tools.incidents import list_incidents, refresh_incidents
from tools.nodes import NodeRef
from tools.runbooks import context_from_incident, list_proposals, propose
from tools.runbooks.executors import ExecutorRegistry, InMemorySimulator, SimulatorExecutor
from tools.simulate.config import FaultSpec, SimConfig
from tools.simulate.load import load_simulation
from tools.store import Store, open_store, to_micros
from tools.store.observability_queries import list_traces

END = datetime(2026, 3, 2, 12, tzinfo=UTC)
NOW_US = to_micros(END)
HOUR_US = 3_600_000_000
# Days before the column rename, so the two faults make two incidents.
JOB_FAILED_AT = datetime(2026, 2, 24, 12, tzinfo=UTC)

CRM = "dataset:s3://acme-crm-exports:crm/contacts"
STG_CRM = "dataset:snowflake://acme.eu-west-1:analytics.staging.stg_crm_contacts"
STG_CRM_JOB = "job:dbt://acme:analytics.staging.stg_crm_contacts"
STG_WEB = "dataset:snowflake://acme.eu-west-1:analytics.staging.stg_web_events"
STG_WEB_JOB = "job:dbt://acme:analytics.staging.stg_web_events"
WEB = "dataset:kafka://events.acme:web.clickstream"
AUDIENCE = "dataset:braze://acme:audience.cart_abandoners"
CAMPAIGN = "dataset:braze://acme:campaign.cart_recovery_flow"


def _det(node: str, kind: str, hours_before_end: float, **extra: Any) -> Detection:
    return Detection(
        node=NodeRef.parse(node),
        kind=kind,
        metric=extra.pop("metric", kind),
        onset_us=NOW_US - int(hours_before_end * HOUR_US),
        score=extra.pop("score", 6.0),
        severity=extra.pop("severity", "high"),
        summary=extra.pop("summary", f"{kind} on {node}"),
        **extra,
    )


DETECTIONS = [
    _det(
        CRM,
        "schema_drift",
        34,
        metric="schema",
        evidence={"removed": ["email"], "added": ["email_address"]},
        summary="field email renamed to email_address",
    ),
    _det(
        STG_CRM,
        "null_spike",
        33,
        metric="data.null_fraction",
        attributes={"column": "email"},
        observed=1.0,
        expected=0.05,
        lower=0.0,
        upper=0.1,
        summary="email is null in every row",
    ),
    _det(AUDIENCE, "audience_drop", 30, metric="activation.audience.size", observed=1200.0,
         expected=5400.0),
    _det(CAMPAIGN, "consent_mismatch", 29, metric="consent.mismatch_fraction", observed=0.2,
         expected=0.01),
    _det(
        STG_WEB_JOB,
        "job_failure",
        (NOW_US - to_micros(JOB_FAILED_AT)) / HOUR_US,
        metric=None,
        summary="stg_web_events fails: Numeric value 'N/A' is not recognized",
    ),
]


def prepare_store(folder: Path) -> str:
    """Simulate, detect and group into ``folder``; return the SQLite store URL."""
    folder.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{folder / 'flowsleuth.db'}"
    store = open_store(url)
    try:
        load_simulation(
            store,
            SimConfig(
                end=END,
                size=40,
                days=8,
                scenarios=[
                    FaultSpec("renamed_source_column"),
                    FaultSpec("failed_staging_job", node=STG_WEB_JOB, start=JOB_FAILED_AT),
                ],
            ),
            folder / "sim",
        )
        add_findings(store)
    finally:
        store.dispose()
    return url


def add_findings(store: Store) -> None:
    """Anomalies, incidents, and remediation proposals (queued, none applied)."""
    sync_anomalies(store, DETECTIONS, NOW_US)
    for incident in refresh_incidents(store, NOW_US):
        propose(
            store,
            context_from_incident(store, incident.id),
            executors=simulator_registry(SimulatorExecutor(InMemorySimulator())),
            auto_apply=False,
            now_us=NOW_US,
        )


def simulator_registry(executor: SimulatorExecutor) -> ExecutorRegistry:
    """The simulator standing in for every system actions reach. Registries built over one
    executor share its journal of every capture, apply and rollback."""
    registry = ExecutorRegistry([executor])
    registry.add(executor, as_name="http")
    registry.add(executor, as_name="sql")
    return registry


@dataclass(frozen=True)
class Facts:
    """Ids the prepared store holds, looked up once for the call table."""

    schema_incident: int
    job_incident: int
    null_anomaly: int
    trace_id: str
    proposals: dict[str, int]  # action type -> a proposal id


def facts(url: str) -> Facts:
    store = open_store(url, migrate_schema=False)
    try:
        incidents = {i.root_causes[0].node: i.id for i in list_incidents(store)}
        anomaly = list_anomalies(store, kind="null_spike")[0].id
        trace = list_traces(store, node=NodeRef.parse(WEB), limit=1)[0].trace_id
        proposals = {p.action_type: p.id for p in list_proposals(store)}
    finally:
        store.dispose()
    return Facts(incidents[CRM], incidents[STG_WEB_JOB], anomaly, trace, proposals)


def structured(result: Any) -> dict[str, Any]:
    """A CallToolResult's structured content, checked against its text twin."""
    assert not result.is_error, result.content
    data = result.structured_content
    assert isinstance(data, dict)
    assert json.loads(result.content[0].text) == data
    return data


def with_client(server: Any, body: Callable[[Client], Awaitable[None]]) -> None:
    """Run ``body`` with a connected client: ``server`` is a Client already configured, or
    anything Client accepts (an MCPServer in process, StdioServerParameters, a URL)."""

    async def main() -> None:
        async with server if isinstance(server, Client) else Client(server) as client:
            await body(client)

    try:
        anyio.run(main)
    except BaseExceptionGroup as group:
        # Task groups wrap a failed assertion; show the assertion itself.
        raise _first_leaf(group) from None


def _first_leaf(group: BaseExceptionGroup[Any]) -> BaseException:
    inner = group.exceptions[0]
    return _first_leaf(inner) if isinstance(inner, BaseExceptionGroup) else inner
