from __future__ import annotations

import networkx as nx  # type: ignore[import-untyped]
import pytest

from tools.nodes import NodeRef
from tools.simulate import SimConfigError, build_topology
from tools.simulate.stack import KINDS, Dataset, Job, Topology


def _graph(topo: Topology) -> nx.DiGraph:
    g = nx.DiGraph()
    for job in topo.jobs:
        for i in job.inputs:
            g.add_edge(topo.datasets[i].id, job.id)
        for o in job.outputs:
            g.add_edge(job.id, topo.datasets[o].id)
    return g


def test_default_size_has_every_kind_and_the_named_assets() -> None:
    topo = build_topology(7, 40)
    counts = topo.kind_counts()
    assert all(counts[k] > 0 for k in KINDS), counts
    ids = set(topo.by_id)
    for expected in (
        "dataset:kafka://events.acme:web.clickstream",
        "dataset:s3://acme-crm-exports:crm/contacts",
        "dataset:s3://acme-pos:orders/daily",
        "dataset:snowflake://acme.eu-west-1:analytics.staging.stg_web_events",
        "dataset:snowflake://acme.eu-west-1:analytics.identity.unified_profiles",
        "dataset:braze://acme:audience.cart_abandoners",
        "job:hightouch://acme:sync.cart_abandoners_to_braze",
    ):
        assert expected in ids
    for node_id in ids:
        ref = NodeRef.parse(node_id)
        assert str(ref) == node_id


@pytest.mark.parametrize("size", [12, 40, 250, 1200])
def test_graph_is_a_dag_of_dataset_job_dataset_edges_and_size_is_close(size: int) -> None:
    topo = build_topology(3, size)
    assert abs(topo.node_count - size) <= max(2, size * 0.1)
    g = _graph(topo)
    assert nx.is_directed_acyclic_graph(g)
    for src, dst in g.edges:
        assert src.split(":", 1)[0] != dst.split(":", 1)[0]  # dataset -> job -> dataset
    # Jobs are listed in topological order: every input is produced by an earlier job.
    for job in topo.jobs:
        for i in job.inputs:
            producer = topo.datasets[i].producer
            assert producer is None or producer < job.idx
    assert len(g) == topo.node_count  # no isolated nodes


def test_large_stacks_replicate_units_with_fan_in_and_fan_out() -> None:
    topo = build_topology(7, 1200)
    assert len(topo.units) > 10
    assert len({(u.brand, u.region) for u in topo.units}) == len(topo.units)
    identity = [j for j in topo.jobs if j.role == "identity"]
    assert len(identity) == len(topo.units)
    assert all(len(j.inputs) >= 3 for j in identity)  # fan-in
    profiles = [d for d in topo.datasets if d.role == "unified_profiles"]
    assert max(len(d.consumers) for d in profiles) >= 3  # fan-out to audiences
    # Consent exports are regional: one feeds several brands' profiles.
    consent = [d for d in topo.datasets if d.role == "stg_consent"]
    assert any(len(d.consumers) > 2 for d in consent)


def test_same_seed_same_topology_other_seed_differs() -> None:
    a, b = build_topology(11, 300), build_topology(11, 300)
    assert list(a.by_id) == list(b.by_id)
    assert [d.base_rows for d in a.datasets] == [d.base_rows for d in b.datasets]
    c = build_topology(12, 300)
    assert [d.base_rows for d in a.datasets] != [d.base_rows for d in c.datasets]


def test_business_context_is_on_the_right_nodes() -> None:
    topo = build_topology(7, 60)
    for node in topo.nodes():
        if isinstance(node, Dataset) and node.kind in ("audience", "activation", "campaign"):
            assert node.revenue_per_day and node.revenue_per_day > 0
        elif isinstance(node, Job) or node.kind not in ("audience", "activation", "campaign"):
            assert getattr(node, "revenue_per_day", None) is None
        assert node.owner and node.tier in (1, 2)


def test_downstream_reaches_campaigns_from_a_source() -> None:
    topo = build_topology(7, 40)
    src = topo.node("dataset:s3://acme-crm-exports:crm/contacts")
    kinds = {n.kind for n in topo.downstream(src)}
    assert {"staging", "identity", "audience", "activation", "campaign"} <= kinds


@pytest.mark.parametrize("size", [0, 11, True, "40"])
def test_bad_sizes_are_refused(size: object) -> None:
    with pytest.raises(SimConfigError, match="size"):
        build_topology(7, size)  # type: ignore[arg-type]


def test_unknown_node_names_the_problem() -> None:
    with pytest.raises(SimConfigError, match="unknown node"):
        build_topology(7, 40).node("dataset:nowhere:x")
