"""Business impact: catalogued audiences, activations and campaigns downstream, revenue."""

from __future__ import annotations

import importlib

import pytest

from tests.tools.lineage.lineage_helpers import ds, ingest, job, run_event
from tools.ingest.catalog import ingest_catalog
from tools.lineage import impact
from tools.nodes import NodeIdError
from tools.store import Store
from tools.store.queries import UnknownNodeError

# The module, not the function the package exports under the same name.
impact_module = importlib.import_module("tools.lineage.impact")

# orders -> build -> aud_cart -> sync -> act_braze -> launch -> cmp_winback
#                             -> sync_ads (an activation job) -> act_ads
# The module, not the function the package exports under the same name.
impact_module = importlib.import_module("tools.lineage.impact")

# orders -> build2 -> aud_vip (nothing downstream)
# The module, not the function the package exports under the same name.
impact_module = importlib.import_module("tools.lineage.impact")

# orders -> build3 -> aud_plain -> sync3 -> act_plain -> launch3 -> cmp_small
#                                                     -> launch4 -> cmp_unpriced
# other -> build4 -> cmp_elsewhere (not downstream of orders)
LINEAGE = [
    run_event("build", [ds("orders")], [ds("aud_cart")]),
    run_event("sync", [ds("aud_cart")], [ds("act_braze")]),
    run_event("launch", [ds("act_braze")], [ds("cmp_winback")]),
    run_event("sync_ads", [ds("aud_cart")], [ds("act_ads")]),
    run_event("build2", [ds("orders")], [ds("aud_vip")]),
    run_event("build3", [ds("orders")], [ds("aud_plain")]),
    run_event("sync3", [ds("aud_plain")], [ds("act_plain")]),
    run_event("launch3", [ds("act_plain")], [ds("cmp_small")]),
    run_event("launch4", [ds("act_plain")], [ds("cmp_unpriced")]),
    run_event("build4", [ds("other")], [ds("cmp_elsewhere")]),
]


def entry(node: str, kind: str, tier: int, owner: str, revenue: float | None) -> str:
    money = "" if revenue is None else f"\n    revenue_per_day: {revenue}"
    return f'  - node: "{node}"\n    kind: {kind}\n    tier: {tier}\n    owner: {owner}{money}\n'


CATALOG = "assets:\n" + "".join(
    [
        entry(ds("orders"), "source", 1, "data-platform", None),
        entry(ds("aud_cart"), "audience", 2, "crm", 1000),
        entry(ds("act_braze"), "activation", 1, "lifecycle", 900),
        entry(ds("cmp_winback"), "campaign", 0, "growth", 800),
        entry(job("sync_ads"), "activation", 2, "paid-media", 300),
        entry(ds("aud_vip"), "audience", 3, "crm", 500),
        entry(ds("aud_plain"), "audience", 2, "crm", 250),
        entry(ds("act_plain"), "activation", 2, "lifecycle", None),
        entry(ds("cmp_small"), "campaign", 1, "growth", 200),
        entry(ds("cmp_unpriced"), "campaign", 3, "brand", None),
        entry(ds("cmp_elsewhere"), "campaign", 0, "growth", 99999),
    ]
)


def setup(store: Store) -> None:
    ingest(store, LINEAGE)
    result = ingest_catalog(store, CATALOG.encode())
    assert result.accepted == 11 and not result.rejected


@pytest.mark.parametrize("by_id", [True, False])
def test_impact_of_a_source(store: Store, by_id: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if not by_id:  # the path for large blast radii: all impact-kind rows, filtered here
        monkeypatch.setattr(impact_module, "BY_ID_LIMIT", 0)
    setup(store)
    view = impact(store, ds("orders"))
    assert [(a.node, a.kind, a.distance, a.counted) for a in view.impacted] == [
        (ds("aud_cart"), "audience", 1, False),  # act_braze, priced, is downstream
        (ds("aud_plain"), "audience", 1, False),  # cmp_small, priced, is downstream
        (ds("aud_vip"), "audience", 1, True),  # nothing downstream
        (job("sync_ads"), "activation", 1, True),  # no campaign downstream
        (ds("act_braze"), "activation", 2, False),  # cmp_winback is downstream
        (ds("act_plain"), "activation", 2, False),  # no revenue of its own
        (ds("cmp_small"), "campaign", 3, True),
        (ds("cmp_unpriced"), "campaign", 3, False),  # no revenue
        (ds("cmp_winback"), "campaign", 3, True),
    ]
    assert view.campaigns_affected == 3
    assert view.revenue_at_risk_per_day == 800 + 300 + 500 + 200
    assert view.owners == ["growth", "lifecycle", "crm", "paid-media", "brand"]
    cart = view.impacted[0]
    assert (cart.tier, cart.owner, cart.revenue_per_day, cart.type) == (2, "crm", 1000, "dataset")
    assert not view.cycle


def test_impact_includes_the_node_itself(store: Store) -> None:
    setup(store)
    view = impact(store, ds("aud_cart"))
    assert [(a.node, a.distance, a.counted) for a in view.impacted] == [
        (ds("aud_cart"), 0, False),
        (job("sync_ads"), 0, True),  # a job sits at the distance of the dataset before it
        (ds("act_braze"), 1, False),
        (ds("cmp_winback"), 2, True),
    ]
    assert view.revenue_at_risk_per_day == 800 + 300
    leaf = impact(store, ds("cmp_winback"))
    assert [a.node for a in leaf.impacted] == [ds("cmp_winback")]
    assert leaf.revenue_at_risk_per_day == 800 and leaf.campaigns_affected == 1


def test_impact_without_catalog_or_lineage(store: Store) -> None:
    ingest(store, LINEAGE)
    view = impact(store, ds("orders"))
    assert view.impacted == [] and view.revenue_at_risk_per_day == 0 and view.owners == []
    lonely = impact(store, job("build4"))
    assert lonely.campaigns_affected == 0
    with pytest.raises(UnknownNodeError):
        impact(store, ds("nope"))
    with pytest.raises(NodeIdError):
        impact(store, "dataset-without-namespace")


def test_impact_through_a_cycle(store: Store) -> None:
    setup(store)
    # The winback campaign's results are fed back into the cart audience.
    ingest(store, [run_event("feedback", [ds("cmp_winback")], [ds("aud_cart")])])
    view = impact(store, ds("act_braze"))
    assert view.cycle
    assert {a.node: a.counted for a in view.impacted} == {
        ds("act_braze"): False,
        ds("cmp_winback"): True,
        ds("aud_cart"): False,
        job("sync_ads"): True,
    }
    assert view.revenue_at_risk_per_day == 800 + 300
