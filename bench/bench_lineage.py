"""Lineage at scale: graph load, upstream / downstream, impact and memory on a synthetic
100,000-node / 300,000-edge lineage in a fresh SQLite store.

    .venv/bin/python -m bench.bench_lineage [--nodes 100000] [--edges 300000] [--seed 7]

The store is built in a child process (bulk executemany into ``nodes``, ``edges`` and
``catalog_entries``), so the peak RSS reported is that of the process that loads and
queries the graph, not of the generator.

The lineage is a layered MarTech warehouse split into domains: sources -> staging ->
three model layers -> marts -> audiences -> activations -> campaigns. Each job writes one
dataset (sometimes two or three) and reads from the layer below, mostly in its own domain,
sometimes from other domains, and often from a few shared hub tables (customer, identity
graph, consent), which is what gives real warehouses their wide blast radii. Audiences,
activations and campaigns are in the catalog with tier, owner and revenue.

Targets: load <= 5 s; upstream / downstream p50 <= 10 ms with ``--depth`` hops at most
(default 3) and reported unbounded too; impact p50 <= 50 ms; peak RSS <= 1 GB.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from tools.lineage import downstream, get_graph, impact, upstream
from tools.nodes import NodeRef
from tools.store import open_store
from tools.store.models import CatalogEntry, Edge, Node

# (layer name, share of datasets, mean inputs per job, kind in the catalog)
LAYERS: list[tuple[str, float, float, str | None]] = [
    ("src", 0.18, 0.0, None),
    ("stg", 0.18, 1.6, None),
    ("int", 0.17, 6.5, None),
    ("fct", 0.14, 8.0, None),
    ("dim", 0.10, 8.0, None),
    ("mart", 0.08, 9.0, None),
    ("aud", 0.07, 5.0, "audience"),
    ("act", 0.05, 1.6, "activation"),
    ("cmp", 0.03, 1.6, "campaign"),
]
DOMAINS = 60
HUBS_PER_LAYER = 8  # shared tables per model layer that many domains read
WRITES = (1, 1, 1, 1, 2, 3)
OWNERS = [f"team-{i:02d}" for i in range(40)]


@dataclass
class Lineage:
    nodes: list[dict[str, Any]] = field(default_factory=list)
    edges: list[dict[str, Any]] = field(default_factory=list)
    catalog: list[dict[str, Any]] = field(default_factory=list)


def generate(n_nodes: int, n_edges: int, seed: int) -> Lineage:
    """About ``n_nodes`` nodes and ``n_edges`` edges (fan-in is scaled to hit the edges)."""
    rng = random.Random(seed)
    out = Lineage()
    t0 = 1_700_000_000_000_000
    # A job writes 1.5 datasets on average (WRITES), sources have no job.
    n_datasets = int(n_nodes / (1 + (1 - LAYERS[0][1]) / (sum(WRITES) / len(WRITES))))
    by_layer: list[list[list[int]]] = []  # layer -> domain -> dataset ids
    hubs: list[list[int]] = []

    def node(kind: str, namespace: str, name: str) -> int:
        nid = len(out.nodes) + 1
        out.nodes.append(
            {
                "id": nid,
                "type": kind,
                "namespace": namespace,
                "name": name,
                "first_seen": t0,
                "last_seen": t0,
            }
        )
        return nid

    def edge(src: int, dst: int) -> None:
        out.edges.append(
            {
                "id": len(out.edges) + 1,
                "src_id": src,
                "dst_id": dst,
                "source": "bench",
                "first_seen": t0,
                "last_seen": t0,
            }
        )

    writes = sum(WRITES) / len(WRITES)
    base_inputs = sum(share * fan for _, share, fan, _ in LAYERS) * n_datasets / writes
    outputs = n_datasets * (1 - LAYERS[0][1])
    fan_scale = max(0.1, (n_edges - outputs) / base_inputs)
    for li, (layer, share, fan, kind) in enumerate(LAYERS):
        per_domain: list[list[int]] = [[] for _ in range(DOMAINS)]
        by_layer.append(per_domain)
        count = int(n_datasets * share)
        made = 0
        while made < count:
            dom = rng.randrange(DOMAINS)
            ns = f"snowflake://acme/{layer}" if kind is None else f"{kind}://acme"
            writes = 1 if li == 0 else min(count - made, rng.choice(WRITES))
            outs = [node("dataset", ns, f"d{dom}.{layer}_{made + k}") for k in range(writes)]
            made += writes
            per_domain[dom].extend(outs)
            if kind is not None:
                for nid in outs:
                    out.catalog.append(_catalog_row(rng, nid, kind, t0))
            if li == 0:
                continue
            job = node("job", "airflow://acme", f"d{dom}.build_{layer}_{made}")
            for src in _pick_inputs(rng, by_layer, hubs, li, dom, fan * fan_scale):
                edge(src, job)
            for nid in outs:
                edge(job, nid)
        if 1 <= li <= 5:
            flat = [n for d in per_domain for n in d]
            hubs.append(rng.sample(flat, min(HUBS_PER_LAYER, len(flat))))
    return out


def _pick_inputs(
    rng: random.Random,
    by_layer: list[list[list[int]]],
    hubs: list[list[int]],
    li: int,
    dom: int,
    mean: float,
) -> set[int]:
    k = max(1, round(rng.expovariate(1 / mean))) if mean > 0 else 0
    picked: set[int] = set()
    for _ in range(k * 2):  # retries for empty slices
        if len(picked) >= k:
            break
        r = rng.random()
        if r < 0.12 and hubs:
            pool = rng.choice(hubs)
        else:
            layer = li - 1 if r < 0.75 or li == 1 else rng.randrange(max(0, li - 3), li)
            d = dom if r < 0.9 else rng.randrange(DOMAINS)
            pool = by_layer[layer][d]
        if pool:
            picked.add(rng.choice(pool))
    return picked


def _catalog_row(rng: random.Random, nid: int, kind: str, t0: int) -> dict[str, Any]:
    revenue: float | None = None
    if kind == "campaign" or rng.random() < 0.5:
        revenue = float(rng.randrange(500, 50_000, 100))
    return {
        "node_id": nid,
        "kind": kind,
        "tier": rng.choice((0, 1, 1, 2, 2, 3)),
        "owner": rng.choice(OWNERS),
        "revenue_per_day": revenue,
        "slos": [],
        "extra": {},
        "updated_at": t0,
    }


def build(url: str, n_nodes: int, n_edges: int, seed: int) -> tuple[int, int, int]:
    lineage = generate(n_nodes, n_edges, seed)
    store = open_store(url)
    with store.write() as conn:
        for table, rows in (
            (Node, lineage.nodes),
            (Edge, lineage.edges),
            (CatalogEntry, lineage.catalog),
        ):
            for start in range(0, len(rows), 50_000):
                conn.execute(insert(table), rows[start : start + 50_000])
    store.dispose()
    return len(lineage.nodes), len(lineage.edges), len(lineage.catalog)


def percentiles(fn: Callable[[NodeRef], int], refs: list[NodeRef]) -> tuple[float, float, float]:
    """(p50 ms, p95 ms, mean result size) of fn over refs."""
    times, sizes = [], []
    for ref in refs:
        start = time.perf_counter()
        sizes.append(fn(ref))
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1], statistics.mean(sizes)


def current_rss_mb() -> float:
    """Resident memory now (Linux); the peak includes the rows held while loading."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
    except OSError:
        return float("nan")
    return pages * resource.getpagesize() / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=100_000)
    parser.add_argument("--edges", type=int, default=300_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--depth", type=int, default=3, help="hop cap of the capped queries")
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'lineage.db'}"
        start = time.perf_counter()
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            n, e, c = pool.apply(build, (url, args.nodes, args.edges, args.seed))
        print(
            f"built {n:,} nodes, {e:,} edges, {c:,} catalog rows "
            f"in {time.perf_counter() - start:.1f} s"
        )

        store = open_store(url)
        start = time.perf_counter()
        graph = get_graph(store)
        load_s = time.perf_counter() - start
        rng = random.Random(args.seed)
        refs = [graph.ref(nid) for nid in rng.sample(sorted(graph.graph.nodes), args.samples)]
        for ref in refs:  # node id lookups are cached per store: time the walks alone
            graph.resolve(ref)
        d = args.depth
        rows: list[tuple[str, str, str, str, str]] = [
            (
                "graph load",
                f"{load_s * 1000:.0f} ms",
                "",
                f"{graph.node_count:,} nodes, {graph.edge_count:,} edges",
                "<= 5000 ms",
            ),
        ]
        start = time.perf_counter()
        for _ in range(20):
            graph.refresh(force=True)
        refresh_ms = (time.perf_counter() - start) / 20 * 1000
        rows.append(("refresh, nothing new", f"{refresh_ms:.2f} ms", "", "two range queries", ""))
        cases: list[tuple[str, Callable[[NodeRef], int], str]] = [
            (f"upstream depth<={d}", lambda r: len(upstream(store, r, d).upstream), "<= 10 ms"),
            (
                f"downstream depth<={d}",
                lambda r: len(downstream(store, r, d).downstream),
                "<= 10 ms",
            ),
            ("upstream unbounded", lambda r: len(upstream(store, r).upstream), ""),
            ("downstream unbounded", lambda r: len(downstream(store, r).downstream), ""),
            (
                f"upstream +jobs depth<={d}",
                lambda r: len(upstream(store, r, d, include_jobs=True).upstream),
                "",
            ),
            ("impact", lambda r: len(impact(store, r).impacted), "<= 50 ms"),
        ]
        for name, fn, target in cases:
            p50, p95, size = percentiles(fn, refs)
            rows.append(
                (name, f"{p50:.2f} ms", f"{p95:.2f} ms", f"mean {size:,.0f} results", target)
            )
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        rows.append(
            ("peak RSS", f"{rss_mb:.0f} MB", "", "loading + querying process", "<= 1024 MB")
        )
        rows.append(("RSS at the end", f"{current_rss_mb():.0f} MB", "", "", ""))
        widths = [
            max(len(r[i]) for r in [("measure", "p50", "p95", "size", "target"), *rows])
            for i in range(5)
        ]
        for row in [("measure", "p50", "p95", "size", "target"), *rows]:
            print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
        store.dispose()


if __name__ == "__main__":
    main()
