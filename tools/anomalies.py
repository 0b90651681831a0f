"""Anomalies as the store keeps them: one row per ongoing problem on one series of a node.

Detectors return ``Detection``s for a moment in time; ``sync_anomalies`` folds them into
the table so that one ongoing problem is one open anomaly that updates while it lasts and
resolves itself when its detector no longer reports it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import BaseModel
from sqlalchemy import insert, select, update

from tools.faults import CHANGE_KINDS
from tools.nodes import NodeRef
from tools.store.db import Store
from tools.store.models import AnomalyRow, Node
from tools.store.writes import resolve_nodes
from tools.timeutil import iso


@dataclass(slots=True)
class Detection:
    """One detector finding at one moment: what departs from expectation, since when."""

    node: NodeRef
    kind: str  # a tools.faults.FaultKind
    metric: str | None
    onset_us: int
    score: float
    severity: str  # a tools.faults.Severity
    summary: str
    attributes: dict[str, Any] = field(default_factory=dict)
    observed: float | None = None
    expected: float | None = None
    lower: float | None = None
    upper: float | None = None
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def dedup_key(self) -> str:
        raw = orjson.dumps(
            [str(self.node), self.kind, self.metric, self.attributes], option=orjson.OPT_SORT_KEYS
        )
        return hashlib.sha256(raw).hexdigest()

    @property
    def is_change(self) -> bool:
        return self.kind in CHANGE_KINDS


class AnomalyView(BaseModel):
    id: int
    node: str
    kind: str
    metric: str | None
    attributes: dict[str, Any]
    status: str
    onset: str
    detected_at: str
    updated_at: str
    resolved_at: str | None
    observed: float | None
    expected: float | None
    lower: float | None
    upper: float | None
    score: float
    severity: str
    summary: str
    evidence: dict[str, Any]


def sync_anomalies(store: Store, detections: list[Detection], at_us: int) -> list[AnomalyView]:
    """Fold the detections made at ``at_us`` into the anomalies table.

    An open anomaly with the same node, kind, metric and attributes is updated (its onset
    only ever moves earlier); a new one is opened; an open one its detector no longer
    reports is resolved at ``at_us``. Returns the anomalies open after the sync.
    """
    by_key: dict[str, Detection] = {}
    for det in detections:
        prev = by_key.get(det.dedup_key)
        if prev is None or det.score > prev.score:
            by_key[det.dedup_key] = det
    with store.write() as conn:
        ids = resolve_nodes(conn, store, {d.node: d.onset_us for d in by_key.values()})
        open_rows = {
            row.dedup_key: row
            for row in conn.execute(
                select(AnomalyRow.id, AnomalyRow.dedup_key, AnomalyRow.onset_at).where(
                    AnomalyRow.status == "open"
                )
            )
        }
        for key, det in by_key.items():
            values = {
                "observed": det.observed,
                "expected": det.expected,
                "lower": det.lower,
                "upper": det.upper,
                "score": det.score,
                "severity": det.severity,
                "summary": det.summary,
                "evidence": det.evidence,
                "updated_at": at_us,
            }
            row = open_rows.pop(key, None)
            if row is not None:
                values["onset_at"] = min(row.onset_at, det.onset_us)
                conn.execute(update(AnomalyRow).where(AnomalyRow.id == row.id).values(**values))
            else:
                conn.execute(
                    insert(AnomalyRow).values(
                        dedup_key=key,
                        node_id=ids[det.node],
                        kind=det.kind,
                        metric=det.metric,
                        attributes=det.attributes,
                        status="open",
                        onset_at=det.onset_us,
                        detected_at=at_us,
                        resolved_at=None,
                        **values,
                    )
                )
        for row in open_rows.values():
            conn.execute(
                update(AnomalyRow)
                .where(AnomalyRow.id == row.id)
                .values(status="resolved", resolved_at=at_us, updated_at=at_us)
            )
    return list_anomalies(store, status="open")


def list_anomalies(
    store: Store,
    *,
    status: str | None = None,
    node: NodeRef | None = None,
    kind: str | None = None,
    since_us: int | None = None,
    limit: int = 1000,
) -> list[AnomalyView]:
    stmt = (
        select(AnomalyRow, Node.type, Node.namespace, Node.name)
        .join(Node, Node.id == AnomalyRow.node_id)
        .order_by(AnomalyRow.onset_at, AnomalyRow.id)
        .limit(limit)
    )
    if status:
        stmt = stmt.where(AnomalyRow.status == status)
    if kind:
        stmt = stmt.where(AnomalyRow.kind == kind)
    if since_us is not None:
        stmt = stmt.where(AnomalyRow.updated_at >= since_us)
    if node is not None:
        stmt = stmt.where(
            Node.type == node.type, Node.namespace == node.namespace, Node.name == node.name
        )
    with store.read() as conn:
        return [_view(row) for row in conn.execute(stmt).mappings()]


def get_anomalies(store: Store, ids: list[int]) -> list[AnomalyView]:
    if not ids:
        return []
    stmt = (
        select(AnomalyRow, Node.type, Node.namespace, Node.name)
        .join(Node, Node.id == AnomalyRow.node_id)
        .where(AnomalyRow.id.in_(ids))
        .order_by(AnomalyRow.onset_at, AnomalyRow.id)
    )
    with store.read() as conn:
        return [_view(row) for row in conn.execute(stmt).mappings()]


def _view(row: Any) -> AnomalyView:
    return AnomalyView(
        id=row["id"],
        node=str(NodeRef(row["type"], row["namespace"], row["name"])),
        kind=row["kind"],
        metric=row["metric"],
        attributes=row["attributes"] or {},
        status=row["status"],
        onset=iso(row["onset_at"]) or "",
        detected_at=iso(row["detected_at"]) or "",
        updated_at=iso(row["updated_at"]) or "",
        resolved_at=iso(row["resolved_at"]),
        observed=row["observed"],
        expected=row["expected"],
        lower=row["lower"],
        upper=row["upper"],
        score=row["score"],
        severity=row["severity"],
        summary=row["summary"],
        evidence=row["evidence"] or {},
    )
