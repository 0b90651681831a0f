"""Prompts that walk an IDE assistant through an investigation with the tools.

Each prompt names only tools this server actually offers (families and single tools can
be switched off), and quotes what the store already knows about its subject so the
assistant starts from facts rather than from a blank page.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection

from mcp_types import INVALID_PARAMS

from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError
from tools.anomalies import get_anomalies
from tools.incidents import get_incident
from tools.nodes import NodeRef
from tools.server.mcp.registry import ANTICIPATED, ToolDeps, parse_node
from tools.store.queries import node_id

RULES = (
    "Ground every claim in a tool result and cite it (anomaly id, node id, run id, metric). "
    "Say 'unknown' rather than guess. Risk tiers come from flowsleuth's policy, never from "
    "you: do not argue an action is safe to apply; high-impact actions wait for a human."
)


def _steps(enabled: Collection[str], steps: list[tuple[str | None, str]]) -> str:
    """Numbered steps, keeping those whose tool is enabled (None: no tool needed)."""
    kept = [text for name, text in steps if name is None or name in enabled]
    return "\n".join(f"{i}. {text}" for i, text in enumerate(kept, 1))


def _incident_id(text: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise ValueError(f"incident_id must be a whole number, got {text!r}") from None
    if value < 1:
        raise ValueError(f"incident_id must be 1 or more, got {value}")
    return value


def _invalid_params(fn: Callable[..., str]) -> Callable[..., str]:
    """Anticipated failures (unknown incident, bad id) reach the client with their message:
    the SDK would replace any other exception's text with a generic one."""

    @functools.wraps(fn)
    def guarded(**arguments: str) -> str:
        try:
            return fn(**arguments)
        except ANTICIPATED as exc:
            raise MCPError(code=INVALID_PARAMS, message=str(exc)) from exc

    return guarded


def register_prompts(server: MCPServer, deps: ToolDeps, enabled: Collection[str]) -> None:
    @server.prompt(
        title="Investigate an incident",
        description="Find the root cause of an incident, its blast radius, and what to do",
    )
    @_invalid_params
    def investigate_incident(incident_id: str) -> str:
        incident = get_incident(deps.store, _incident_id(incident_id))
        top = incident.root_causes[0] if incident.root_causes else None
        lead = (
            f"The leading hypothesis is {top.kind} at {top.node} (confidence "
            f"{top.confidence:.2f})."
            if top
            else "No root cause has been located yet."
        )
        steps = _steps(
            enabled,
            [
                ("get_incident", f"Call get_incident(incident_id={incident.id}) and read the "
                 "symptoms in onset order."),
                ("root_cause_candidates", f"Call root_cause_candidates(incident_id="
                 f"{incident.id}); weigh each candidate's evidence against its contradictions "
                 "and check its lineage paths reach every symptom."),
                ("get_schema_versions", "For a schema_drift candidate, call "
                 "get_schema_versions on its node and name the added/removed/retyped fields."),
                ("column_lineage", "Follow a broken column to its source with column_lineage "
                 "(direction='upstream')."),
                ("list_runs", "For job failures or late data, call list_runs(errors_only=true) "
                 "on the job and quote the error message."),
                ("query_metrics", "Confirm the symptom's shape with query_metrics over the "
                 "incident window (compare with the days before)."),
                ("get_freshness", "For late data, call get_freshness on the affected datasets."),
                ("assess_impact", "Size the blast radius with assess_impact on the root cause: "
                 "campaigns affected, revenue per day at risk, owners to notify."),
                ("list_playbooks", "Find matching remediation with "
                 "list_playbooks(fault_kind=...)."),
                ("propose_remediation", f"If asked to act, call propose_remediation(incident_id="
                 f"{incident.id}); it applies nothing. Apply only what apply_low_risk_proposal "
                 "accepts; request_approval for everything else."),
                (None, "Report: root cause, evidence chain, impact in money and campaigns, "
                 "owners, recommended next step."),
            ],
        )
        return (
            f"Investigate flowsleuth incident {incident.id}: \"{incident.title}\" "
            f"({incident.status}, {incident.severity}, {len(incident.symptoms)} symptoms, "
            f"${incident.revenue_at_risk_per_day:,.0f}/day at risk). {lead}\n\n{steps}\n\n{RULES}"
        )

    @server.prompt(
        title="Explain an anomaly",
        description="Explain one anomaly: what departed from expectation, and why",
    )
    @_invalid_params
    def explain_anomaly(anomaly_id: str) -> str:
        try:
            wanted = int(anomaly_id.strip())
        except ValueError:
            raise ValueError(f"anomaly_id must be a whole number, got {anomaly_id!r}") from None
        found = get_anomalies(deps.store, [wanted])
        if not found:
            raise ValueError(f"no anomaly {wanted}: list_anomalies shows the ids")
        a = found[0]
        expected = (
            f" (observed {a.observed:g}, expected {a.expected:g})"
            if a.observed is not None and a.expected is not None
            else ""
        )
        steps = _steps(
            enabled,
            [
                ("query_metrics", f"Call query_metrics(node='{a.node}', name='{a.metric}', "
                 f"attributes={a.attributes or None}) over the days around {a.onset} and "
                 "describe the change against the usual pattern."),
                ("lineage_upstream", f"Call lineage_upstream(node='{a.node}', depth=3) and "
                 "check those assets with list_anomalies for earlier anomalies."),
                ("list_anomalies", "Anomalies upstream with an earlier onset are likely causes; "
                 "ones downstream are consequences."),
                ("get_schema_versions", "Check get_schema_versions on the node and its parents "
                 "for drift near the onset."),
                ("list_runs", "Check list_runs(errors_only=true) on the jobs writing it."),
                ("list_incidents", "See whether it already belongs to an incident "
                 "(list_incidents, then get_incident)."),
                (None, "Explain in three sentences: what changed, the most likely cause with "
                 "its evidence, and what it affects downstream."),
            ],
        )
        return (
            f"Explain anomaly {a.id}: {a.kind} on {a.node}, metric {a.metric or 'n/a'}, "
            f"onset {a.onset}, severity {a.severity}{expected}. Detector summary: "
            f"\"{a.summary}\".\n\n{steps}\n\n{RULES}"
        )

    @server.prompt(
        title="Assess blast radius",
        description="What breaks downstream of an asset, who owns it and what it costs",
    )
    @_invalid_params
    def assess_blast_radius(node: str) -> str:
        ref: NodeRef = parse_node(node)
        node_id(deps.store, ref)
        steps = _steps(
            enabled,
            [
                ("assess_impact", f"Call assess_impact(node='{ref}'): the audiences, "
                 "activations and campaigns at risk, revenue per day (counted once per "
                 "funnel) and owners by tier."),
                ("lineage_downstream", f"Call lineage_downstream(node='{ref}') for every "
                 "dependent asset with its distance."),
                ("lineage_path", "Use lineage_path to show how the asset reaches each "
                 "campaign at risk."),
                ("list_anomalies", "Check list_anomalies on the most valuable dependents: "
                 "is the damage already visible?"),
                ("get_freshness", "Check get_freshness on tier-1 dependents."),
                (None, "Summarise: revenue per day at risk, campaigns affected, owners to "
                 "notify in order of tier, and which dependents already show symptoms."),
            ],
        )
        return f"Assess the blast radius of {ref}.\n\n{steps}\n\n{RULES}"
