"""Building lineage for the lineage tests: OpenLineage events, and the truth to compare
query answers with, computed from events independently of tools.lineage."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import orjson

from tools.ingest.openlineage import ingest_openlineage
from tools.store import Store

NS = "warehouse"
JOB_NS = "scheduler"
Relations = dict[str, set[str]]


def ds(name: str, ns: str = NS) -> str:
    return f"dataset:{ns}:{name}"


def job(name: str, ns: str = JOB_NS) -> str:
    return f"job:{ns}:{name}"


def _dataset(text: str, facets: dict[str, Any] | None = None) -> dict[str, Any]:
    _, rest = text.split(":", 1)
    namespace, _, name = rest.rpartition(":")
    out: dict[str, Any] = {"namespace": namespace, "name": name}
    if facets:
        out["facets"] = facets
    return out


def run_event(
    job_name: str,
    inputs: Iterable[str],
    outputs: Iterable[str],
    *,
    output_facets: dict[str, Any] | None = None,
    when: str = "2025-03-01T00:00:00Z",
) -> dict[str, Any]:
    """A COMPLETE RunEvent of job ``job_name`` (in JOB_NS) reading and writing dataset ids."""
    return {
        "eventType": "COMPLETE",
        "eventTime": when,
        "run": {"runId": str(uuid.uuid4())},
        "job": {"namespace": JOB_NS, "name": job_name},
        "inputs": [_dataset(i) for i in inputs],
        "outputs": [_dataset(o, output_facets) for o in outputs],
        "producer": "https://example.com/flowsleuth-tests",
    }


def ingest(store: Store, events: list[dict[str, Any]]) -> None:
    result = ingest_openlineage(store, orjson.dumps(events))
    assert not result.rejected, [r.reason for r in result.rejected]
    assert result.accepted == len(events)


def relations(events: Iterable[dict[str, Any]]) -> tuple[Relations, Relations]:
    """(successors, predecessors) of every node, jobs included, from events' inputs and
    outputs: dataset -> job for an input, job -> dataset for an output."""
    succ: Relations = {}
    pred: Relations = {}
    for ev in events:
        if "job" not in ev:
            continue
        j = f"job:{ev['job']['namespace']}:{ev['job']['name']}"
        for role in ("inputs", "outputs"):
            for d in ev.get(role) or []:
                node = f"dataset:{d['namespace']}:{d['name']}"
                src, dst = (node, j) if role == "inputs" else (j, node)
                succ.setdefault(src, set()).add(dst)
                pred.setdefault(dst, set()).add(src)
                for n in (src, dst):
                    succ.setdefault(n, set())
                    pred.setdefault(n, set())
    return succ, pred


def within(adj: Relations, start: str, hops: int | None, *, jobs: bool) -> set[str]:
    """Nodes at most ``hops`` steps from ``start`` (all of them when None), the start
    excluded. Without ``jobs`` a step is dataset -> job -> dataset (or job -> dataset from
    a job) and only datasets are returned."""
    found: set[str] = set()
    frontier = {start}
    step = 0
    while frontier and (hops is None or step < hops):
        step += 1
        nxt: set[str] = set()
        for n in frontier:
            for m in adj.get(n, ()):
                if jobs or m.startswith("dataset:"):
                    nxt.add(m)
                else:
                    nxt.update(adj.get(m, ()))
        frontier = nxt - found
        found |= nxt
    return found - {start}  # the queries never list the node they start from
