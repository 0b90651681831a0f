"""Business impact: the audiences, activations and campaigns downstream of a node, their
owners, and the revenue per day at risk.

Revenue rule (no double counting). Audience -> activation -> campaign is one funnel, and
the catalog often puts a revenue figure on several stages of it for the same money. So an
impacted node's ``revenue_per_day`` is counted unless a later funnel stage that carries a
figure of its own is also impacted and lies downstream of it:

* every impacted campaign's revenue counts;
* an activation's counts only when no impacted campaign with revenue is downstream of it;
* an audience's counts only when no impacted activation or campaign with revenue is
  downstream of it.

So each branch is counted once, at its most downstream priced stage, and independent
branches add up. Nodes of the same stage are distinct assets and add up too. The node
asked about is included (distance 0) when it is itself an audience, activation or
campaign: its own revenue is at risk.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select

from tools.lineage.graph import get_graph
from tools.nodes import NodeRef
from tools.store.db import Store
from tools.store.models import CatalogEntry
from tools.store.writes import chunks

IMPACT_KINDS = ("audience", "activation", "campaign")
# Up to this many downstream nodes, catalog rows are fetched by node id; past it, all
# audience / activation / campaign rows are read and filtered here (fewer round trips).
BY_ID_LIMIT = 2000
REVENUE_RULE = (
    "campaign revenue always counts; an activation's only with no priced campaign "
    "downstream of it; an audience's only with no priced activation or campaign downstream "
    "of it"
)


class ImpactedAsset(BaseModel):
    node: str
    type: str
    namespace: str
    name: str
    kind: str
    tier: int | None
    owner: str | None
    revenue_per_day: float | None
    distance: int
    counted: bool  # whether revenue_per_day is part of revenue_at_risk_per_day


class ImpactView(BaseModel):
    """Who and what is hurt when ``node`` breaks; see the module doc for the revenue rule."""

    node: str
    impacted: list[ImpactedAsset]
    campaigns_affected: int
    revenue_at_risk_per_day: float
    owners: list[str]
    cycle: bool
    revenue_rule: str = REVENUE_RULE


def impact(store: Store, ref: NodeRef | str) -> ImpactView:
    """Every audience / activation / campaign at or downstream of ``ref``, with tier, owner,
    revenue and distance (dataset hops), the campaigns affected, the revenue per day at
    risk and the owners to notify (most critical tier first)."""
    graph = get_graph(store)
    start = graph.resolve(ref)
    dist = graph.distances(start, "downstream", include_jobs=False)
    rows = _catalog_rows(store, dist.keys())

    priced = {nid: row[0] for nid, row in rows.items() if row[3] is not None}
    campaigns = [n for n, kind in priced.items() if kind == "campaign"]
    later = [n for n, kind in priced.items() if kind in ("activation", "campaign")]
    below_campaign = graph.reach(campaigns, "upstream", within=dist)
    below_later = graph.reach(later, "upstream", within=dist)

    impacted = []
    for nid, (kind, tier, owner, revenue) in rows.items():
        ref_ = graph.ref(nid)
        counted = revenue is not None and (
            kind == "campaign"
            or (kind == "activation" and nid not in below_campaign)
            or (kind == "audience" and nid not in below_later)
        )
        impacted.append(
            ImpactedAsset(
                node=str(ref_),
                type=ref_.type,
                namespace=ref_.namespace,
                name=ref_.name,
                kind=kind,
                tier=tier,
                owner=owner,
                revenue_per_day=revenue,
                distance=dist[nid],
                counted=counted,
            )
        )
    impacted.sort(key=lambda a: (a.distance, a.node))
    return ImpactView(
        node=str(graph.ref(start)),
        impacted=impacted,
        campaigns_affected=sum(1 for a in impacted if a.kind == "campaign"),
        revenue_at_risk_per_day=sum(a.revenue_per_day or 0.0 for a in impacted if a.counted),
        owners=_owners(impacted),
        cycle=graph.touches_cycle(dist),
    )


def _catalog_rows(store: Store, nids: Collection[int]) -> dict[int, tuple[Any, ...]]:
    """node id -> (kind, tier, owner, revenue_per_day) for the impact kinds among nids."""
    base = select(
        CatalogEntry.node_id,
        CatalogEntry.kind,
        CatalogEntry.tier,
        CatalogEntry.owner,
        CatalogEntry.revenue_per_day,
    ).where(CatalogEntry.kind.in_(IMPACT_KINDS))
    out: dict[int, tuple[Any, ...]] = {}
    with store.read() as conn:
        if len(nids) <= BY_ID_LIMIT:
            for part in chunks(sorted(nids)):
                for nid, *rest in conn.execute(base.where(CatalogEntry.node_id.in_(part))):
                    out[nid] = tuple(rest)
        else:
            for nid, *rest in conn.execute(base):
                if nid in nids:
                    out[nid] = tuple(rest)
    return out


def _owners(impacted: list[ImpactedAsset]) -> list[str]:
    best: dict[str, int] = {}
    for a in impacted:
        if a.owner is not None:
            tier = a.tier if a.tier is not None else 1 << 30
            best[a.owner] = min(best.get(a.owner, tier), tier)
    return sorted(best, key=lambda o: (best[o], o))


__all__ = ["IMPACT_KINDS", "REVENUE_RULE", "ImpactView", "ImpactedAsset", "impact"]
