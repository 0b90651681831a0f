"""Diagnosis steps: named read-only queries whose results become a proposal's evidence.

Playbooks declare them (``query: runs``, ``params: {node: ...}``); a
:class:`DiagnosisRunner` executes them. The default reads the store; the agent may pass
one that goes through the MCP tools instead. A query that fails becomes evidence of the
failure (``{"error": ...}``) rather than stopping the proposal.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Protocol

from sqlalchemy import select

from tools.nodes import NodeIdError, NodeRef
from tools.store.db import Store
from tools.store.models import AnomalyRow, CatalogEntry, Edge, Node
from tools.store.queries import UnknownNodeError, list_runs, node_id, query_metrics
from tools.timeutil import iso, parse_duration_us

MAX_DEPTH = 12
MAX_NODES = 500


class DiagnosisRunner(Protocol):
    def run(self, query: str, params: dict[str, Any]) -> Any: ...


class StoreDiagnosisRunner:
    """Diagnosis queries answered from the store, as of ``now_us``."""

    def __init__(self, store: Store, now_us: int) -> None:
        self.store = store
        self.now_us = now_us

    def run(self, query: str, params: dict[str, Any]) -> Any:
        try:
            return self._run(query, params)
        except (UnknownNodeError, NodeIdError, ValueError, KeyError) as exc:
            return {"error": str(exc)}

    def _run(self, query: str, params: dict[str, Any]) -> Any:
        ref = NodeRef.parse(str(params["node"]))
        since = self._since(params)
        limit = int(params.get("limit", 50))
        if query == "runs":
            runs = list_runs(self.store, ref, since_us=since, until_us=self.now_us, limit=limit)
            return [r.model_dump() for r in runs]
        if query == "metrics":
            series = query_metrics(
                self.store,
                ref,
                name=params.get("name"),
                since_us=since,
                until_us=self.now_us,
                max_points=int(params.get("max_points", 200)),
            )
            return [s.model_dump() for s in series]
        if query in ("lineage.impact", "lineage.upstream"):
            depth = min(int(params.get("depth", MAX_DEPTH)), MAX_DEPTH)
            return self._walk(ref, downstream=query == "lineage.impact", depth=depth)
        if query == "anomalies":
            return self._anomalies(ref, str(params.get("status", "open")), limit)
        if query == "catalog":
            return self._catalog([node_id(self.store, ref)]).get(node_id(self.store, ref))
        raise ValueError(f"unknown diagnosis query {query!r}")

    def _since(self, params: dict[str, Any]) -> int | None:
        since = params.get("since")
        return None if since is None else self.now_us - parse_duration_us(str(since))

    def _walk(self, ref: NodeRef, *, downstream: bool, depth: int) -> list[dict[str, Any]]:
        """Nodes reachable along lineage edges, nearest first, with their catalog context."""
        start = node_id(self.store, ref)
        distance = {start: 0}
        queue = deque([start])
        near, far = (Edge.src_id, Edge.dst_id) if downstream else (Edge.dst_id, Edge.src_id)
        with self.store.read() as conn:
            while queue and len(distance) < MAX_NODES:
                current = queue.popleft()
                if distance[current] >= depth:
                    continue
                for (nxt,) in conn.execute(select(far).where(near == current)):
                    if nxt not in distance:
                        distance[nxt] = distance[current] + 1
                        queue.append(nxt)
            ids = [n for n in distance if n != start]
            names = {
                row.id: str(NodeRef(row.type, row.namespace, row.name))
                for row in conn.execute(
                    select(Node.id, Node.type, Node.namespace, Node.name).where(Node.id.in_(ids))
                )
            }
        catalog = self._catalog(ids)
        out = [
            {"node": names[n], "distance": distance[n], **(catalog.get(n) or {})}
            for n in ids
            if n in names
        ]
        return sorted(out, key=lambda item: (item["distance"], item["node"]))

    def _catalog(self, ids: list[int]) -> dict[int, dict[str, Any]]:
        if not ids:
            return {}
        with self.store.read() as conn:
            rows = conn.execute(
                select(
                    CatalogEntry.node_id,
                    CatalogEntry.kind,
                    CatalogEntry.tier,
                    CatalogEntry.owner,
                    CatalogEntry.revenue_per_day,
                ).where(CatalogEntry.node_id.in_(ids))
            ).mappings()
            return {int(r["node_id"]): {k: r[k] for k in r if k != "node_id"} for r in rows}

    def _anomalies(self, ref: NodeRef, status: str, limit: int) -> list[dict[str, Any]]:
        nid = node_id(self.store, ref)
        stmt = (
            select(
                AnomalyRow.id,
                AnomalyRow.kind,
                AnomalyRow.metric,
                AnomalyRow.status,
                AnomalyRow.onset_at,
                AnomalyRow.severity,
                AnomalyRow.summary,
            )
            .where(AnomalyRow.node_id == nid)
            .order_by(AnomalyRow.onset_at.desc())
            .limit(limit)
        )
        if status != "any":
            stmt = stmt.where(AnomalyRow.status == status)
        with self.store.read() as conn:
            rows = conn.execute(stmt).mappings().all()
        return [dict(r) | {"onset_at": iso(r["onset_at"])} for r in rows]
