"""Schema drift: fields added, removed or retyped between consecutive versions of a dataset.

An added field is harmless on its own (info). A removed or retyped field breaks readers
that select it (medium), and is high when something downstream is known to use it: a
column-lineage edge from it, or a downstream dataset with a field of that name. A removal
and an addition of the same type in one change read as a rename. A change stays reported
for three days, or two of the dataset's version intervals if longer, then closes.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import select

from tools.anomalies import Detection
from tools.detect.detectors.base import DAY_US, DetectContext, Detector, Finding, short_time
from tools.detect.detectors.changes import CHANGE_HORIZON_US
from tools.detect.detectors.jobs import job_outputs
from tools.detect.signals import VersionRow, primary_versions
from tools.nodes import NodeRef
from tools.store.models import ColumnLineage
from tools.timeutil import iso

Fields = dict[str, str]


@dataclass(slots=True)
class FieldChange:
    column: str
    change: str  # added | removed | retyped | renamed
    old_type: str | None = None
    new_type: str | None = None
    new_name: str | None = None
    nullable: bool | None = None
    used_by: list[str] = field(default_factory=list)

    @property
    def breaking(self) -> bool:
        return self.change != "added"


def fields_of(schema: list[Any] | None) -> Fields | None:
    if schema is None:
        return None
    out: Fields = {}
    for f in schema:
        if isinstance(f, dict) and isinstance(f.get("name"), str):
            out[f["name"]] = str(f.get("type") or "")
    return out


def _nullable(schema: list[Any] | None, name: str) -> bool | None:
    for f in schema or []:
        if isinstance(f, dict) and f.get("name") == name and isinstance(f.get("nullable"), bool):
            return bool(f["nullable"])
    return None


def diff_fields(old: Fields, new: Fields, new_schema: list[Any] | None = None
                ) -> list[FieldChange]:
    removed = [c for c in old if c not in new]
    added = [c for c in new if c not in old]
    changes = [FieldChange(c, "retyped", old[c], new[c]) for c in old
               if c in new and old[c] != new[c]]
    if len(removed) == 1 and len(added) == 1 and old[removed[0]] == new[added[0]]:
        return [*changes, FieldChange(removed[0], "renamed", old[removed[0]], new[added[0]],
                                      new_name=added[0])]
    changes += [FieldChange(c, "removed", old[c]) for c in removed]
    changes += [FieldChange(c, "added", None, new[c], nullable=_nullable(new_schema, c))
                for c in added]
    return changes


class SchemaDetector(Detector):
    name = "schema"

    def detect(self, ctx: DetectContext, findings: list[Finding]) -> list[Detection]:
        out: list[Detection] = []
        latest_schema: dict[NodeRef, Fields] = {}
        per_node = primary_versions(ctx.versions)
        for node, rows in per_node.items():
            with_schema = [v for v in rows if v.schema_fields is not None]
            if with_schema:
                latest_schema[node] = fields_of(with_schema[-1].schema_fields) or {}
        downstream = _downstream_datasets(ctx)
        for node, rows in per_node.items():
            if not ctx.enabled(self.name, node):
                continue
            for when, changes, old, new in _recent_changes(rows, ctx.at_us):
                _mark_usage(ctx, node, changes, downstream.get(node, []), latest_schema)
                out.extend(_detection(node, when, c, old, new) for c in changes)
        return out


def _recent_changes(rows: list[VersionRow], at_us: int
                    ) -> list[tuple[int, list[FieldChange], Fields, Fields]]:
    versions = [v for v in rows if v.schema_fields is not None]
    if len(versions) < 2:
        return []
    times = np.asarray([v.observed_at for v in versions], dtype=np.int64)
    spacing = float(np.median(np.diff(times))) if times.size > 2 else float(DAY_US)
    horizon = max(CHANGE_HORIZON_US, 2 * spacing)
    out = []
    prev = fields_of(versions[0].schema_fields) or {}
    for v in versions[1:]:
        cur = fields_of(v.schema_fields) or {}
        if cur != prev and at_us - v.observed_at <= horizon:
            changes = diff_fields(prev, cur, v.schema_fields)
            if changes:
                out.append((v.observed_at, changes, prev, cur))
        prev = cur
    return out


def _downstream_datasets(ctx: DetectContext) -> dict[NodeRef, list[NodeRef]]:
    outputs = job_outputs(ctx.writers)
    out: dict[NodeRef, list[NodeRef]] = defaultdict(list)
    for ds, jobs in ctx.readers.items():
        for job in jobs:
            out[ds].extend(d for d in outputs.get(job, []) if d != ds)
    return out


def _mark_usage(ctx: DetectContext, node: NodeRef, changes: list[FieldChange],
                downstream: list[NodeRef], latest: dict[NodeRef, Fields]) -> None:
    breaking = [c for c in changes if c.breaking]
    if not breaking:
        return
    nid = ctx.nodes.ids.get(node)
    if nid is not None:
        stmt = select(ColumnLineage.src_column, ColumnLineage.dst_node_id,
                      ColumnLineage.dst_column).where(
            ColumnLineage.src_node_id == nid,
            ColumnLineage.src_column.in_([c.column for c in breaking]),
            ColumnLineage.first_seen <= ctx.at_us,
        )
        with ctx.store.read() as conn:
            for src_col, dst_id, dst_col in conn.execute(stmt):
                for c in breaking:
                    if c.column == src_col:
                        c.used_by.append(f"{ctx.nodes[dst_id]}.{dst_col}")
    for c in breaking:
        for ds in downstream:
            if c.column in latest.get(ds, {}):
                ref = f"{ds}.{c.column}"
                if ref not in c.used_by:
                    c.used_by.append(ref)


def _detection(node: NodeRef, when: int, c: FieldChange, old: Fields, new: Fields
               ) -> Detection:
    if c.change == "added":
        severity = "low" if c.nullable is False else "info"
        what = f"column {c.column} ({c.new_type}) added"
    else:
        severity = "high" if c.used_by else "medium"
        what = {
            "removed": f"column {c.column} ({c.old_type}) removed",
            "retyped": f"column {c.column} retyped from {c.old_type} to {c.new_type}",
            "renamed": f"column {c.column} renamed to {c.new_name} ({c.new_type})",
        }[c.change]
    used = ""
    if c.used_by:
        more = f" and {len(c.used_by) - 2} more" if len(c.used_by) > 2 else ""
        used = f"; used downstream by {', '.join(c.used_by[:2])}{more}"
    return Detection(
        node=node,
        kind="schema_drift",
        metric="schema",
        attributes={"column": c.column},
        onset_us=when,
        score=3.0 if c.used_by else 2.0 if c.breaking else 1.0,
        severity=severity,
        summary=f"{node.name}: {what} at {short_time(when)}{used}",
        evidence={
            "change": c.change,
            "column": c.column,
            "old_type": c.old_type,
            "new_type": c.new_type,
            "new_name": c.new_name,
            "used_by": c.used_by[:20],
            "changed_at": iso(when),
            "fields_before": sorted(old)[:100],
            "fields_after": sorted(new)[:100],
        },
    )
