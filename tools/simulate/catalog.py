"""The catalog file (TELEMETRY.md §6) for a simulated stack: one entry per node.

Written by hand rather than through PyYAML so a 10,000-node catalog streams out in a
blink; every string is a JSON string, which is also a valid YAML double-quoted scalar.
Revenue per day sits on audience, activation and campaign datasets only (the jobs that
build them carry none), so summing revenue over a blast radius never counts twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from tools.simulate.stack import Dataset, Job, Topology


def slos(node: Dataset | Job) -> list[dict[str, Any]]:
    if isinstance(node, Job):
        return []
    def slo(metric: str, objective: str, target: float = 0.99) -> dict[str, Any]:
        return {"metric": metric, "objective": objective, "target": target, "window": "28d"}
    if node.kind == "source":
        if node.arrival is None:
            return [slo("freshness", "<= 15m"), slo("event.loss_fraction", "<= 0.01")]
        return [slo("freshness", "<= 26h", 0.95)]
    if node.kind == "staging":
        hourly = node.role in ("stg_web", "stg_app")
        return [slo("freshness", "<= 2h" if hourly else "<= 26h")]
    if node.kind == "model":
        return [slo("freshness", "<= 26h", 0.95)]
    if node.kind == "identity":
        out = [slo("freshness", "<= 26h")]
        if node.role == "identity_graph":
            out.append(slo("identity.match_confidence", ">= 0.85"))
        return out
    if node.kind == "audience":
        return [slo("freshness", "<= 26h")]
    if node.kind == "activation":
        return [slo("activation.sync.success_ratio", ">= 0.98"), slo("freshness", "<= 8h")]
    return [slo("activation.delivery.variance", ">= -0.15", 0.95)]


def entries(topo: Topology) -> Iterator[dict[str, Any]]:
    for node in topo.nodes():
        entry: dict[str, Any] = {"node": node.id, "kind": node.kind, "tier": node.tier,
                                 "owner": node.owner}
        if isinstance(node, Dataset) and node.revenue_per_day is not None:
            entry["revenue_per_day"] = node.revenue_per_day
        entry["slos"] = slos(node)
        yield entry


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def catalog_yaml(topo: Topology) -> bytes:
    lines = [
        f"# flowsleuth simulated stack: seed {topo.seed}, size {topo.size}, "
        f"{topo.node_count} nodes",
        "assets:",
    ]
    for entry in entries(topo):
        lines.append(f"  - node: {_scalar(entry['node'])}")
        for key in ("kind", "tier", "owner", "revenue_per_day"):
            if key in entry:
                lines.append(f"    {key}: {_scalar(entry[key])}")
        if not entry["slos"]:
            lines.append("    slos: []")
            continue
        lines.append("    slos:")
        for slo in entry["slos"]:
            lines.append(f"      - metric: {_scalar(slo['metric'])}")
            for key in ("objective", "target", "window"):
                lines.append(f"        {key}: {_scalar(slo[key])}")
    return ("\n".join(lines) + "\n").encode()
