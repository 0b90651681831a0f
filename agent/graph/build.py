"""The investigation graph::

    triage -> evidence (one branch per signal family, in parallel) -> localize -> impact
      -> explain -> propose -> risk gate -> apply -> verify -+-> report
                                 ^                           |
                                 +---- await approval <------+  (while any action waits)

Each decision passed in is acted on at once (an approved action is applied and verified
before the graph pauses again for the ones still waiting).
"""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from agent.graph import nodes
from agent.graph.state import FAMILIES, AgentDeps, InvestigationState

Graph = CompiledStateGraph[InvestigationState, AgentDeps, InvestigationState, InvestigationState]


def build_graph(checkpointer: BaseCheckpointSaver[Any] | None) -> Graph:
    """The compiled graph; pass a checkpointer for anything that may pause."""
    g = StateGraph(InvestigationState, context_schema=AgentDeps)
    g.add_node("triage", nodes.triage)
    branches = [f"evidence_{family}" for family in FAMILIES]
    for family, name in zip(FAMILIES, branches, strict=True):
        g.add_node(name, nodes.evidence_node(family))
    g.add_node("localize", nodes.localize)
    g.add_node("impact", nodes.impact)
    g.add_node("explain", nodes.explain)
    g.add_node("propose", nodes.propose_actions)
    g.add_node("risk_gate", nodes.risk_gate)
    g.add_node("await_approval", nodes.await_approval)
    g.add_node("apply", nodes.apply_approved)
    g.add_node("verify", nodes.verify_applied)
    g.add_node("report", nodes.report)

    g.add_edge(START, "triage")
    for name in branches:
        g.add_edge("triage", name)
    g.add_edge(branches, "localize")
    g.add_edge("localize", "impact")
    g.add_edge("impact", "explain")
    g.add_edge("explain", "propose")
    g.add_edge("propose", "risk_gate")
    g.add_edge("risk_gate", "apply")
    g.add_edge("apply", "verify")
    g.add_conditional_edges(
        "verify",
        nodes.route_after_verify,
        {"await_approval": "await_approval", "report": "report"},
    )
    g.add_edge("await_approval", "risk_gate")
    g.add_edge("report", END)
    return g.compile(checkpointer=checkpointer, name="flowsleuth-investigation")


__all__ = ["Graph", "build_graph"]
