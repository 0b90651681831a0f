"""The runbook engine's input: what is broken, how sure we are, and what is at stake.

Incidents are produced elsewhere; :class:`RemediationContext` is the contract between
them and the runbooks. :func:`context_from_incident` builds it from the incidents table
and tolerates partial rows (no root cause yet, at-risk entries given as bare node ids).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
from sqlalchemy import Connection, select

from tools.faults import FaultKind, is_fault_kind
from tools.nodes import NodeIdError, NodeRef
from tools.store.db import Store
from tools.store.models import (
    AnomalyRow,
    CatalogEntry,
    Edge,
    IncidentAnomaly,
    IncidentRow,
    Node,
    from_micros,
)


class ContextError(ValueError):
    """A remediation context that cannot be built or read; the message says why."""


def _node_id(value: str) -> str:
    try:
        return str(NodeRef.parse(value))
    except NodeIdError as exc:
        raise ValueError(str(exc)) from None


class Symptom(BaseModel):
    node: str
    kind: FaultKind
    metric: str | None = None
    onset: datetime

    _node = field_validator("node")(_node_id)


class AtRiskNode(BaseModel):
    node: str
    kind: str | None = None  # catalog kind: audience, activation, campaign, ...
    tier: int | None = None
    owner: str | None = None
    revenue_per_day: float = Field(0.0, ge=0)

    _node = field_validator("node")(_node_id)


class TimeWindow(BaseModel):
    start: datetime
    end: datetime

    @model_validator(mode="after")
    def _ordered(self) -> TimeWindow:
        if self.end < self.start:
            raise ValueError(f"window ends ({self.end}) before it starts ({self.start})")
        return self

    @property
    def days(self) -> float:
        return (self.end - self.start).total_seconds() / 86_400


class RemediationContext(BaseModel):
    """One incident as the runbook engine sees it."""

    incident_id: int
    root_cause: str | None = Field(None, description="dataset:<ns>:<name> or job:<ns>:<name>")
    root_cause_kind: FaultKind | None = None
    root_cause_catalog_kind: str | None = None
    root_cause_outputs: list[str] = Field(
        default_factory=list,
        description="datasets the root-cause job writes (where its symptoms are measured)",
    )
    confidence: float = Field(0.0, ge=0.0, le=1.0)
    symptoms: list[Symptom] = Field(default_factory=list)
    impacted: list[str] = Field(default_factory=list)
    at_risk: list[AtRiskNode] = Field(default_factory=list)
    revenue_at_risk_per_day: float = Field(0.0, ge=0)
    campaigns_affected: int = Field(0, ge=0)
    owners: list[str] = Field(default_factory=list)
    window: TimeWindow | None = None
    detected_at: datetime

    @field_validator("root_cause")
    @classmethod
    def _root(cls, value: str | None) -> str | None:
        return None if value is None else _node_id(value)

    @field_validator("impacted")
    @classmethod
    def _impacted(cls, value: list[str]) -> list[str]:
        return [_node_id(v) for v in value]

    @model_validator(mode="after")
    def _kind_needs_cause(self) -> RemediationContext:
        if self.root_cause_kind is not None and self.root_cause is None:
            raise ValueError("root_cause_kind is set but root_cause is not")
        return self

    @property
    def fault_kinds(self) -> list[str]:
        """The root cause's kind, else the symptoms' kinds (for notify-only matching)."""
        if self.root_cause_kind:
            return [self.root_cause_kind]
        return sorted({s.kind for s in self.symptoms})

    def template_vars(self) -> dict[str, Any]:
        """The names playbook placeholders may use (see tools.runbooks.templating)."""
        data = self.model_dump(mode="json")
        root: dict[str, Any] | None = None
        if self.root_cause:
            ref = NodeRef.parse(self.root_cause)
            root = {
                "node": self.root_cause,
                "type": ref.type,
                "namespace": ref.namespace,
                "name": ref.name,
                "kind": self.root_cause_kind,
                "catalog_kind": self.root_cause_catalog_kind,
                "confidence": self.confidence,
                "outputs": list(self.root_cause_outputs),
                # Metrics live on datasets: for a job, the first dataset it writes.
                "output": (
                    self.root_cause_outputs[0] if self.root_cause_outputs else self.root_cause
                ),
            }
        by_kind: dict[str, list[dict[str, Any]]] = {}
        for item in self.at_risk:
            ref = NodeRef.parse(item.node)
            entry = item.model_dump(mode="json") | {"namespace": ref.namespace, "name": ref.name}
            by_kind.setdefault(item.kind or "unknown", []).append(entry)
        window = data["window"]
        if window is not None and self.window is not None:
            window["days"] = self.window.days
        return {
            "incident_id": self.incident_id,
            "root_cause": root,
            "confidence": self.confidence,
            "symptoms": data["symptoms"],
            "impacted": data["impacted"],
            "at_risk": data["at_risk"],
            "at_risk_by_kind": by_kind,
            "revenue_at_risk_per_day": self.revenue_at_risk_per_day,
            "campaigns_affected": self.campaigns_affected,
            "owners": self.owners,
            "owners_text": ", ".join(self.owners),
            "window": window,
            "detected_at": data["detected_at"],
        }


def load_context_file(path: Path) -> RemediationContext:
    """A RemediationContext from a JSON file, with a clear error naming the bad field."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ContextError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ContextError(f"{path}: not readable JSON ({exc})") from None
    try:
        return RemediationContext.model_validate(raw)
    except ValidationError as exc:
        raise ContextError(f"{path}: {_first_error(exc)}") from None


def _first_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def context_from_incident(store: Store, incident_id: int) -> RemediationContext:
    """Build the context of one stored incident."""
    with store.read() as conn:
        incident = (
            conn.execute(select(IncidentRow).where(IncidentRow.id == incident_id))
            .mappings()
            .first()
        )
        if incident is None:
            raise ContextError(f"no incident {incident_id}")
        anomalies = conn.execute(
            select(
                AnomalyRow.kind,
                AnomalyRow.metric,
                AnomalyRow.onset_at,
                Node.type,
                Node.namespace,
                Node.name,
            )
            .join(IncidentAnomaly, IncidentAnomaly.anomaly_id == AnomalyRow.id)
            .join(Node, Node.id == AnomalyRow.node_id)
            .where(IncidentAnomaly.incident_id == incident_id)
            .order_by(AnomalyRow.onset_at)
        ).all()
        catalog = _catalog_by_node(conn, dict(incident))
        cause = _root_cause(incident["root_causes"])
        outputs = _outputs(conn, cause.get("node") if cause else None)
    symptoms = [
        Symptom(
            node=str(NodeRef(t, ns, name)),
            kind=kind,
            metric=metric,
            onset=from_micros(onset),
        )
        for kind, metric, onset, t, ns, name in anomalies
        if is_fault_kind(kind)
    ]
    at_risk = [_at_risk(item, catalog) for item in incident["at_risk"] or []]
    root_node = cause.get("node") if cause else None
    root_entry = catalog.get(root_node) if root_node else None
    owners = _owners(root_entry, at_risk)
    onsets = [s.onset for s in symptoms]
    start = min(onsets) if onsets else from_micros(incident["opened_at"])
    end = from_micros(max(incident["updated_at"], incident["opened_at"]))
    try:
        return RemediationContext(
            incident_id=incident["id"],
            root_cause=root_node,
            root_cause_kind=cause.get("kind") if cause else None,
            root_cause_catalog_kind=root_entry.get("kind") if root_entry else None,
            root_cause_outputs=outputs,
            confidence=float(cause.get("confidence") or 0.0) if cause else 0.0,
            symptoms=symptoms,
            impacted=[_impacted_id(i) for i in incident["impacted"] or []],
            at_risk=at_risk,
            revenue_at_risk_per_day=incident["revenue_at_risk_per_day"] or 0.0,
            campaigns_affected=sum(1 for a in at_risk if a.kind == "campaign"),
            owners=owners,
            window=TimeWindow(start=min(start, end), end=end),
            detected_at=from_micros(incident["opened_at"]),
        )
    except ValidationError as exc:
        raise ContextError(f"incident {incident_id}: {_first_error(exc)}") from None


def _outputs(conn: Connection, node: str | None) -> list[str]:
    """The datasets a job writes, from the lineage edges (a dataset has none)."""
    if node is None or not node.startswith("job:"):
        return []
    ref = NodeRef.parse(node)
    job_id = conn.execute(
        select(Node.id).where(
            Node.type == "job", Node.namespace == ref.namespace, Node.name == ref.name
        )
    ).scalar_one_or_none()
    if job_id is None:
        return []
    rows = conn.execute(
        select(Node.namespace, Node.name)
        .join(Edge, Edge.dst_id == Node.id)
        .where(Edge.src_id == job_id, Node.type == "dataset")
        .order_by(Node.namespace, Node.name)
    ).all()
    return [str(NodeRef.dataset(ns, name)) for ns, name in rows]


def _root_cause(causes: list[Any] | None) -> dict[str, Any] | None:
    """The top root cause, or None when there is none a playbook can act on."""
    if not causes or not isinstance(causes[0], dict) or not causes[0].get("node"):
        return None
    cause = dict(causes[0])
    if not is_fault_kind(str(cause.get("kind"))):
        cause["kind"] = None
    return cause


def _impacted_id(item: Any) -> str:
    return str(item["node"]) if isinstance(item, dict) else str(item)


def _at_risk(item: Any, catalog: dict[str, dict[str, Any]]) -> AtRiskNode:
    """An at-risk entry (a node id or a dict), completed from the catalog."""
    data: dict[str, Any] = dict(item) if isinstance(item, dict) else {"node": str(item)}
    entry = catalog.get(str(data.get("node")), {})
    for key in ("kind", "tier", "owner", "revenue_per_day"):
        if data.get(key) is None and entry.get(key) is not None:
            data[key] = entry[key]
    data.setdefault("revenue_per_day", 0.0)
    if data["revenue_per_day"] is None:
        data["revenue_per_day"] = 0.0
    return AtRiskNode.model_validate(
        {k: data.get(k) for k in ("node", "kind", "tier", "owner", "revenue_per_day")}
    )


def _owners(root_entry: dict[str, Any] | None, at_risk: list[AtRiskNode]) -> list[str]:
    """Root cause owner first (they fix it), then the owners of what is at risk."""
    owners: list[str] = []
    if root_entry and root_entry.get("owner"):
        owners.append(root_entry["owner"])
    for item in at_risk:
        if item.owner and item.owner not in owners:
            owners.append(item.owner)
    return owners


def _catalog_by_node(conn: Connection, incident: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Catalog entries of the root cause and at-risk nodes, keyed by node id text."""
    wanted: set[str] = set()
    cause = _root_cause(incident["root_causes"])
    if cause:
        wanted.add(str(cause["node"]))
    for item in incident["at_risk"] or []:
        wanted.add(_impacted_id(item))
    refs = []
    for text in wanted:
        try:
            refs.append(NodeRef.parse(text))
        except NodeIdError:
            continue
    out: dict[str, dict[str, Any]] = {}
    for ref in refs:
        found = (
            conn.execute(
                select(
                    CatalogEntry.kind,
                    CatalogEntry.tier,
                    CatalogEntry.owner,
                    CatalogEntry.revenue_per_day,
                )
                .join(Node, Node.id == CatalogEntry.node_id)
                .where(
                    Node.type == ref.type, Node.namespace == ref.namespace, Node.name == ref.name
                )
            )
            .mappings()
            .first()
        )
        if found is not None:
            out[str(ref)] = dict(found)
    return out
