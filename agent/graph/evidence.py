"""Evidence gatherers, one per signal family: runs and errors, metrics around the onset,
schema changes, lineage, logs. Each reads the store (never writes) and returns evidence
items ``{"id", "family", "node", "text", "data"}``, ranked most telling first.

The ids are what explanations cite (``[run:<uuid>]``, ``[log:42]``), so each one names a
record a person can look up with the CLI or the MCP tools.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select

from agent.llm.narrator import fmt_number, when
from tools.incidents.model import IncidentView
from tools.lineage import upstream
from tools.nodes import NodeIdError, NodeRef
from tools.store.db import Store
from tools.store.models import DatasetVersion, LogRecord
from tools.store.queries import UnknownNodeError, list_runs, node_id, query_metrics
from tools.timeutil import iso, parse_micros

HOUR_US = 3_600_000_000
LOOKBACK_US = 48 * HOUR_US  # how far before the first onset "normal" is read from
SCHEMA_LOOKBACK_US = 7 * 24 * HOUR_US
MAX_NODES = 8
MAX_JOBS = 5
MAX_METRICS = 6
MAX_LOG_NODES = 4
MAX_PATHS = 2
WARN = 13  # OTLP severity number of WARN
FAILED_STATES = frozenset({"FAIL", "ABORT"})

Item = dict[str, Any]


def window(incident: IncidentView, at_us: int) -> tuple[int, int]:
    onsets = [parse_micros(s.onset) for s in incident.symptoms]
    first = min(onsets) if onsets else at_us
    return first - LOOKBACK_US, at_us


def focus_nodes(incident: IncidentView) -> list[NodeRef]:
    """Root-cause candidates first, then symptomatic nodes in onset order."""
    seen: dict[str, NodeRef] = {}
    texts = [c.node for c in incident.root_causes[:3]] + [s.node for s in incident.symptoms]
    for text in texts:
        if text in seen:
            continue
        try:
            seen[text] = NodeRef.parse(text)
        except NodeIdError:
            continue
        if len(seen) >= MAX_NODES:
            break
    return list(seen.values())


def gather_runs(store: Store, incident: IncidentView, at_us: int) -> list[Item]:
    since, until = window(incident, at_us)
    items: list[Item] = []
    seen_jobs: set[str] = set()
    for ref in focus_nodes(incident):
        try:
            runs = list_runs(store, ref, since_us=since, until_us=until, limit=200)
        except UnknownNodeError:
            continue
        by_job: dict[str, list[Any]] = {}
        for run in runs:
            by_job.setdefault(run.job, []).append(run)
        for job, job_runs in by_job.items():
            if job in seen_jobs or len(seen_jobs) >= MAX_JOBS:
                continue
            seen_jobs.add(job)
            items.append(_run_item(job, job_runs, since))
    # Failures are what an explanation leads with.
    items.sort(key=lambda i: -int(i["data"]["failed"]))
    return items


def _run_item(job: str, runs: list[Any], since: int) -> Item:
    failed = [r for r in runs if r.state in FAILED_STATES]
    completed = [r for r in runs if r.state == "COMPLETE"]
    name = job.rsplit(":", 1)[-1]
    data: dict[str, Any] = {
        "job": job,
        "runs": len(runs),
        "failed": len(failed),
        "since": iso(since),
        "last_success": (completed[0].ended_at or completed[0].started_at) if completed else None,
    }
    if failed:
        latest = failed[0]  # runs come newest first
        first = failed[-1]
        data["first_failure"] = first.started_at or first.ended_at
        data["error"] = latest.error_message
        text = f"{name} failed {len(failed)} of {len(runs)} runs since {when(iso(since))}"
        if latest.error_message:
            text += f"; latest error: {latest.error_message!r}"
        return _item(f"run:{latest.run_id}", "runs", job, text, data)
    newest = runs[0]
    text = f"{name}: {len(runs)} runs since {when(iso(since))}, none failed"
    return _item(f"run:{newest.run_id}", "runs", job, text, data)


def gather_metrics(store: Store, incident: IncidentView, at_us: int) -> list[Item]:
    items: list[Item] = []
    ranked = sorted(
        (s for s in incident.symptoms if s.metric), key=lambda s: (-abs(s.score), s.onset)
    )
    for symptom in ranked[:MAX_METRICS]:
        try:
            ref = NodeRef.parse(symptom.node)
            onset = parse_micros(symptom.onset)
            series = query_metrics(
                store,
                ref,
                name=symptom.metric,
                since_us=onset - LOOKBACK_US,
                until_us=at_us,
                max_points=2000,
            )
        except (NodeIdError, UnknownNodeError, ValueError):
            continue
        wanted = {k: v for k, v in symptom.attributes.items() if isinstance(v, str | int)}
        matching = [s for s in series if all(s.attributes.get(k) == v for k, v in wanted.items())]
        for s in matching[:1]:
            before = [p.value for p in s.points if parse_micros(p.ts) < onset]
            after = [p.value for p in s.points if parse_micros(p.ts) >= onset]
            if not after:
                continue
            median_before = _round(statistics.median(before)) if before else None
            median_after = _round(statistics.median(after))
            latest = _round(after[-1])
            data = {
                "metric": s.name,
                "attributes": s.attributes,
                "median_before": median_before,
                "median_after": median_after,
                "latest": latest,
                "points_after": len(after),
                "onset": symptom.onset,
            }
            name = symptom.node.rsplit(":", 1)[-1]
            text = (
                f"{s.name} on {name}: median {_fmt(median_before)} in the 48 h before "
                f"{when(symptom.onset)}, {_fmt(median_after)} since, latest {_fmt(latest)}"
            )
            items.append(_item(f"metric:{symptom.id}", "metrics", symptom.node, text, data))
    return items


def gather_schema(store: Store, incident: IncidentView, at_us: int) -> list[Item]:
    since, until = window(incident, at_us)
    items: list[Item] = []
    for ref in focus_nodes(incident):
        if ref.type != "dataset":
            continue
        try:
            nid = node_id(store, ref)
        except UnknownNodeError:
            continue
        with store.read() as conn:
            rows = conn.execute(
                select(
                    DatasetVersion.id,
                    DatasetVersion.observed_at,
                    DatasetVersion.schema_hash,
                    DatasetVersion.schema_fields,
                )
                .where(
                    DatasetVersion.node_id == nid,
                    DatasetVersion.schema_hash.is_not(None),
                    DatasetVersion.observed_at >= since - SCHEMA_LOOKBACK_US,
                    DatasetVersion.observed_at <= until,
                )
                .order_by(DatasetVersion.observed_at, DatasetVersion.id)
            ).all()
        previous = None
        for row in rows:
            if previous is not None and row.schema_hash != previous.schema_hash:
                diff = schema_diff(previous.schema_fields or [], row.schema_fields or [])
                if any(diff.values()):
                    items.append(_schema_item(str(ref), row.id, row.observed_at, diff))
            previous = row
    return items


def schema_diff(old: Iterable[Any], new: Iterable[Any]) -> dict[str, list[str]]:
    """Fields removed, added and retyped between two schema facets' ``fields`` lists."""
    before = {str(f.get("name")): str(f.get("type") or "") for f in old if isinstance(f, dict)}
    after = {str(f.get("name")): str(f.get("type") or "") for f in new if isinstance(f, dict)}
    return {
        "removed": sorted(set(before) - set(after)),
        "added": sorted(set(after) - set(before)),
        "retyped": sorted(
            f"{n}: {before[n]} -> {after[n]}"
            for n in set(before) & set(after)
            if before[n] != after[n]
        ),
    }


def _schema_item(node: str, version: int, at: int, diff: dict[str, list[str]]) -> Item:
    parts = [f"{k} {', '.join(v)}" for k, v in diff.items() if v]
    text = f"schema of {node.rsplit(':', 1)[-1]} changed at {when(iso(at))}: {'; '.join(parts)}"
    return _item(f"schema:{version}", "schema", node, text, diff | {"at": iso(at)})


def gather_lineage(store: Store, incident: IncidentView, at_us: int) -> list[Item]:
    if not incident.root_causes:
        return []
    top = incident.root_causes[0]
    items: list[Item] = []
    shown: set[str] = set()
    for path in sorted(top.paths, key=len, reverse=True):
        # Jobs share names with the tables they build; the datasets tell the story.
        names = " -> ".join(p.rsplit(":", 1)[-1] for p in path if p.startswith("dataset:"))
        if names in shown or len(shown) >= MAX_PATHS:
            continue
        shown.add(names)
        text = f"lineage from the candidate to a symptom: {names}"
        items.append(_item(f"lineage:path{len(shown)}", "lineage", top.node, text, {"path": path}))
    try:
        up = upstream(store, top.node, depth=2)
    except (NodeIdError, UnknownNodeError):
        return items
    symptomatic = {s.node for s in incident.symptoms}
    feeds = [n.node for n in up.upstream]
    sick = [n for n in feeds if n in symptomatic]
    text = (
        f"{len(feeds)} dataset(s) within two hops upstream of {top.node.rsplit(':', 1)[-1]}, "
        f"{len(sick)} of them with symptoms"
    )
    data = {"upstream": feeds[:10], "symptomatic_upstream": sick}
    items.append(_item("lineage:upstream", "lineage", top.node, text, data))
    return items


def gather_logs(store: Store, incident: IncidentView, at_us: int) -> list[Item]:
    since, until = window(incident, at_us)
    items: list[Item] = []
    for ref in focus_nodes(incident)[: MAX_LOG_NODES * 2]:
        if len(items) >= MAX_LOG_NODES:
            break
        try:
            nid = node_id(store, ref)
        except UnknownNodeError:
            continue
        with store.read() as conn:
            rows = conn.execute(
                select(
                    LogRecord.id,
                    LogRecord.ts,
                    LogRecord.severity_text,
                    LogRecord.severity_number,
                    LogRecord.body,
                )
                .where(
                    LogRecord.node_id == nid,
                    LogRecord.ts >= since,
                    LogRecord.ts <= until,
                    LogRecord.severity_number >= WARN,
                )
                .order_by(LogRecord.ts.desc())
                .limit(200)
            ).all()
        if not rows:
            continue
        samples = list(dict.fromkeys(r.body for r in rows))[:3]
        first = min(r.ts for r in rows)
        text = (
            f"{len(rows)} warning/error log line(s) on {ref.name} since {when(iso(first))}; "
            f"latest: {rows[0].body!r}"
        )
        data = {"count": len(rows), "first": iso(first), "samples": samples}
        items.append(_item(f"log:{rows[0].id}", "logs", str(ref), text, data))
    return items


def _item(ref: str, family: str, node: str, text: str, data: dict[str, Any]) -> Item:
    return {"id": ref, "family": family, "node": node, "text": text, "data": data}


def _round(value: float) -> float:
    return float(f"{value:.4g}")


def _fmt(value: float | None) -> str:
    return "unknown" if value is None else fmt_number(value)


GATHERERS = {
    "runs": gather_runs,
    "metrics": gather_metrics,
    "schema": gather_schema,
    "lineage": gather_lineage,
    "logs": gather_logs,
}

__all__ = [
    "GATHERERS",
    "focus_nodes",
    "gather_lineage",
    "gather_logs",
    "gather_metrics",
    "gather_runs",
    "gather_schema",
    "schema_diff",
    "window",
]
