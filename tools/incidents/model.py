"""The shapes of incidents and root causes: the JSON the CLI, MCP tools and agent share."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from tools.anomalies import AnomalyView


class EvidenceItem(BaseModel):
    """One fact for or against a hypothesis; ``ref`` points at what it cites."""

    ref: str  # e.g. "anomaly:12", "node:dataset:ns:name", "run:<uuid>"
    text: str


class RootCause(BaseModel):
    node: str
    kind: str
    confidence: float = Field(ge=0.0, le=1.0)
    score: float
    onset: str | None
    explains: list[int]  # anomaly ids downstream of (or at) this node
    evidence: list[EvidenceItem]
    contradictions: list[EvidenceItem]
    paths: list[list[str]]  # lineage path from this node to each symptom's node


class ImpactedNode(BaseModel):
    node: str
    kind: str | None = None
    tier: int | None = None
    owner: str | None = None
    revenue_per_day: float | None = None
    symptomatic: bool


class IncidentView(BaseModel):
    id: int
    status: str
    severity: str
    title: str
    opened_at: str
    updated_at: str
    resolved_at: str | None
    symptoms: list[AnomalyView]
    root_causes: list[RootCause]
    impacted: list[str]
    at_risk: list[ImpactedNode]
    campaigns_affected: int
    revenue_at_risk_per_day: float
    owners: list[str]
    report: dict[str, Any] | None = None
