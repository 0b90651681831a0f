from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import pytest
import yaml

from tools.simulate import (
    FaultSpec,
    SendError,
    SimConfig,
    build_topology,
    send_simulation,
    simulate,
    write_simulation,
)
from tools.simulate.stack import KINDS
from tools.store import Store
from tools.timeutil import parse_micros

END = datetime(2025, 3, 12, tzinfo=UTC)
CONFIG = SimConfig(end=END, seed=5, size=40, days=4,
                   scenarios=[FaultSpec("expired_vendor_token")])


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    a = write_simulation(CONFIG, tmp_path / "a")
    b = write_simulation(CONFIG, tmp_path / "b")
    tree_a, tree_b = _tree(a.out_dir), _tree(b.out_dir)
    assert tree_a == tree_b
    other = SimConfig(end=END, seed=6, size=40, days=4,
                      scenarios=[FaultSpec("expired_vendor_token")])
    tree_c = _tree(write_simulation(other, tmp_path / "c").out_dir)
    assert tree_c.keys() == tree_a.keys()
    assert tree_c["openlineage/events-2025-03-10.jsonl"] != tree_a[
        "openlineage/events-2025-03-10.jsonl"]


def test_files_and_summary(tmp_path: Path) -> None:
    summary = write_simulation(CONFIG, tmp_path / "sim")
    files = set(_tree(summary.out_dir))
    days = ["2025-03-08", "2025-03-09", "2025-03-10", "2025-03-11"]
    assert {f"openlineage/events-{d}.jsonl" for d in days} <= files
    assert {f"otlp/metrics-{d}.json" for d in days} <= files
    assert {"catalog.yaml", "truth.json", "benign.json"} <= files
    assert any(f.startswith("otlp/traces-") for f in files)
    assert any(f.startswith("otlp/logs-") for f in files)
    lines = sum(len((summary.out_dir / f).read_bytes().splitlines())
                for f in files if f.startswith("openlineage/"))
    assert lines == summary.counts["openlineage"]
    metric_lines = [ln for f in files if f.startswith("otlp/metrics-")
                    for ln in (summary.out_dir / f).read_bytes().splitlines()]
    assert len(metric_lines) == summary.payloads["otlp.metrics"] == 4 * 24
    assert all(orjson.loads(ln)["resourceMetrics"] for ln in metric_lines)
    truth = json.loads(summary.truth_path.read_text())
    assert truth == summary.truth and truth[0]["scenario"] == "expired_vendor_token"
    assert summary.elapsed_s > 0 and summary.peak_rss_mb > 0
    assert summary.nodes == build_topology(5, 40).node_count


def test_benign_changes_are_listed_and_visible(tmp_path: Path) -> None:
    summary = write_simulation(SimConfig(end=END, size=40, days=10), tmp_path / "sim")
    assert json.loads(summary.truth_path.read_text()) == []
    benign = json.loads(summary.benign_path.read_text())
    assert {b["kind"] for b in benign} == {"rerun", "new_nullable_column"}
    events = [orjson.loads(ln) for f in sorted((summary.out_dir / "openlineage").iterdir())
              for ln in f.read_bytes().splitlines()]
    rerun = next(b for b in benign if b["kind"] == "rerun")
    nominal = {e["run"]["runId"] for e in events
               if f"job:{e['job']['namespace']}:{e['job']['name']}" == rerun["node"]
               and e["run"]["facets"]["nominalTime"]["nominalStartTime"] == rerun["at"]
               and e["eventType"] == "COMPLETE"}
    assert len(nominal) == 2  # the same scheduled run completed twice
    column = next(b for b in benign if b["kind"] == "new_nullable_column")
    added = [e for e in events for o in e["outputs"]
             if f"dataset:{o['namespace']}:{o['name']}" == column["node"] and "facets" in o
             and "utm_campaign" in [f["name"] for f in o["facets"]["schema"]["fields"]]]
    assert added and min(parse_micros(e["eventTime"]) for e in added) >= parse_micros(
        column["at"])


def test_catalog_covers_every_node_in_the_contract_shape() -> None:
    [catalog] = [p for p in simulate(CONFIG) if p.kind == "catalog"]
    doc = yaml.safe_load(catalog.body)
    topo = build_topology(5, 40)
    assert catalog.count == len(doc["assets"]) == topo.node_count
    assert {a["node"] for a in doc["assets"]} == set(topo.by_id)
    for a in doc["assets"]:
        assert a["kind"] in KINDS and a["tier"] in (1, 2) and a["owner"]
        is_money = a["node"].startswith("dataset:") and a["kind"] in (
            "audience", "activation", "campaign")
        assert ("revenue_per_day" in a) == is_money
        for slo in a["slos"]:
            assert set(slo) == {"metric", "objective", "target", "window"}
    braze = next(a for a in doc["assets"] if a["node"] == "dataset:braze://acme:audience.cart_abandoners")
    assert braze["kind"] == "activation" and braze["slos"][0]["window"] == "28d"


def test_send_posts_every_payload_to_its_route(tmp_path: Path) -> None:
    seen: list[tuple[str, str, bytes]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path, request.headers["content-type"], request.content))
        return httpx.Response(200, json={"accepted": 1})

    client = httpx.Client(transport=httpx.MockTransport(handler))
    summary = send_simulation(CONFIG, "http://flowsleuth.test/", client=client,
                              out_dir=tmp_path / "out")
    paths = {p for p, _c, _b in seen}
    assert paths == {"/api/v1/lineage", "/v1/metrics", "/v1/traces", "/v1/logs"}
    assert all(c == "application/json" for _p, c, _b in seen)
    assert summary.requests == len(seen)
    lineage = [orjson.loads(b) for p, _c, b in seen if p == "/api/v1/lineage"]
    assert all(isinstance(batch, list) for batch in lineage)
    assert sum(len(batch) for batch in lineage) == summary.counts["openlineage"]
    assert summary.catalog_path.read_bytes().startswith(b"# flowsleuth simulated stack")
    assert json.loads(summary.truth_path.read_text())[0]["kind"] == "sync_failure"
    # One event per request, as the OpenLineage client sends them.
    seen.clear()
    single = send_simulation(SimConfig(end=END, size=12, days=3), "http://flowsleuth.test",
                             client=client, out_dir=tmp_path / "one", batch=False)
    assert sum(1 for p, _c, _b in seen if p == "/api/v1/lineage") == single.counts["openlineage"]


def test_send_stops_on_a_refusal(tmp_path: Path) -> None:
    client = httpx.Client(transport=httpx.MockTransport(
        lambda r: httpx.Response(413, text="payload too large")))
    with pytest.raises(SendError, match=r"/api/v1/lineage answered 413: payload too large"):
        send_simulation(CONFIG, "http://flowsleuth.test", client=client, out_dir=tmp_path)


def test_everything_ingests_without_a_rejection(store: Store, tmp_path: Path) -> None:
    from tools.ingest.catalog import ingest_catalog
    from tools.ingest.openlineage import ingest_openlineage
    from tools.ingest.otlp import ingest_otlp

    now = parse_micros("2025-03-12T00:00:00Z")
    signals = {"otlp.metrics": "metrics", "otlp.traces": "traces", "otlp.logs": "logs"}
    totals: dict[str, int] = {}
    for p in simulate(CONFIG):
        if p.kind == "catalog":
            result = ingest_catalog(store, p.body, now_us=now)
        elif p.kind == "openlineage":
            result = ingest_openlineage(store, p.body, now_us=now)
        else:
            result = ingest_otlp(store, signals[p.kind], p.body,  # type: ignore[arg-type]
                                 now_us=now)
        assert not result.rejected, (p.kind, [r.reason for r in result.rejected][:3])
        assert result.accepted + result.duplicates == p.count, p.kind
        totals[p.kind] = totals.get(p.kind, 0) + result.accepted
    assert set(totals) == {"catalog", "openlineage", "otlp.metrics", "otlp.traces", "otlp.logs"}
