"""Blast radius: what an incident hits, and the revenue per day at stake."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tools.anomalies import AnomalyView
from tools.incidents.model import ImpactedNode, RootCause
from tools.lineage import impact
from tools.store.db import Store

# Causes below this confidence are hypotheses, not the basis of a blast radius.
MIN_CONFIDENCE = 0.2


@dataclass(slots=True)
class BlastRadius:
    impacted: list[str]  # nodes with symptoms
    at_risk: list[ImpactedNode]  # audiences, activations, campaigns downstream of the causes
    campaigns_affected: int
    revenue_at_risk_per_day: float
    owners: list[str]


def blast_radius(
    store: Store, symptoms: Sequence[AnomalyView], causes: Sequence[RootCause]
) -> BlastRadius:
    symptomatic = {a.node for a in symptoms}
    impacted = sorted(n for n in symptomatic if n.startswith("dataset:"))
    chosen = [c for c in causes if c.confidence >= MIN_CONFIDENCE] or list(causes[:1])
    at_risk: dict[str, ImpactedNode] = {}
    counted: dict[str, float] = {}
    campaigns: set[str] = set()
    owners: list[str] = []
    for cause in chosen:
        view = impact(store, cause.node)
        # Jobs carry catalog kinds too, but what is at risk is the data they deliver.
        for asset in (a for a in view.impacted if a.type == "dataset"):
            at_risk.setdefault(
                asset.node,
                ImpactedNode(
                    node=asset.node,
                    kind=asset.kind,
                    tier=asset.tier,
                    owner=asset.owner,
                    revenue_per_day=asset.revenue_per_day,
                    symptomatic=asset.node in symptomatic,
                ),
            )
            if asset.counted and asset.revenue_per_day:
                counted[asset.node] = asset.revenue_per_day
            if asset.kind == "campaign":
                campaigns.add(asset.node)
        for owner in view.owners:
            if owner not in owners:
                owners.append(owner)
    return BlastRadius(
        impacted=impacted,
        at_risk=sorted(
            at_risk.values(), key=lambda n: (n.tier if n.tier is not None else 99, n.node)
        ),
        campaigns_affected=len(campaigns),
        revenue_at_risk_per_day=round(sum(counted.values()), 2),
        owners=owners,
    )
