"""Code changes: a job's ``sql`` or ``sourceCode`` facet differs from its previous run's.

A deploy is not a fault by itself, so it is reported at info severity; investigations cite
it as a candidate cause of what went wrong downstream after. The change stays reported
for three days (or two schedule intervals of the job, if longer), with a short diff.
"""

from __future__ import annotations

import difflib
import hashlib
from typing import Any

from tools.anomalies import Detection
from tools.detect.detectors.base import DAY_US, DetectContext, Detector, Finding, short_time
from tools.detect.signals import RunAsOf, schedule_interval
from tools.nodes import NodeRef
from tools.timeutil import iso

MAX_DIFF_LINES = 40
# How long a change stays reported: investigations look for it while the problems it
# caused surface downstream, often a day or two later (or two schedule intervals).
CHANGE_HORIZON_US = 3 * DAY_US
# (facet, field holding the code, metric name the change is reported under)
CODE_FACETS = (("sql", "query", "job.sql"), ("sourceCode", "sourceCode", "job.sourceCode"))


def code_of(run: RunAsOf, facet: str, key: str) -> str | None:
    job_facets: Any = (run.facets or {}).get("job") or {}
    found = job_facets.get(facet) if isinstance(job_facets, dict) else None
    value = found.get(key) if isinstance(found, dict) else None
    return value if isinstance(value, str) else None


def _digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()[:12]


class ChangesDetector(Detector):
    name = "changes"

    def detect(self, ctx: DetectContext, findings: list[Finding]) -> list[Detection]:
        by_job: dict[NodeRef, list[RunAsOf]] = {}
        for run in ctx.runs:
            by_job.setdefault(run.job, []).append(run)
        out = []
        for job, runs in by_job.items():
            if ctx.enabled(self.name, job):
                out.extend(code_changes(job, runs, ctx.at_us))
        return out


def code_changes(job: NodeRef, runs: list[RunAsOf], at_us: int) -> list[Detection]:
    ordered = sorted(runs, key=lambda r: (r.started_at or 0, r.id))
    interval = schedule_interval([r.scheduled_at for r in ordered if r.scheduled_at])
    horizon = max(CHANGE_HORIZON_US, 2 * (interval or 0))
    out = []
    for facet, key, metric in CODE_FACETS:
        prev: tuple[RunAsOf, str] | None = None
        latest: Detection | None = None
        for run in ordered:
            code = code_of(run, facet, key)
            if code is None:
                continue
            if prev is not None and code != prev[1]:
                when = run.started_at or run.scheduled_at or 0
                if at_us - when <= horizon:
                    latest = _detection(job, metric, facet, prev, run, code, when)
            prev = (run, code)
        if latest is not None:
            out.append(latest)
    return out


def _detection(job: NodeRef, metric: str, facet: str, prev: tuple[RunAsOf, str],
               run: RunAsOf, code: str, when: int) -> Detection:
    old = prev[1]
    diff = list(difflib.unified_diff(old.splitlines(), code.splitlines(), "before", "after",
                                     lineterm="", n=1))
    added = sum(1 for ln in diff if ln.startswith("+") and not ln.startswith("+++"))
    removed = sum(1 for ln in diff if ln.startswith("-") and not ln.startswith("---"))
    return Detection(
        node=job,
        kind="code_change",
        metric=metric,
        attributes={},
        onset_us=when,
        score=float(added + removed),
        severity="info",
        summary=(f"{facet} of job {job.name} changed in the run started {short_time(when)}: "
                 f"+{added} -{removed} lines ({_digest(old)} -> {_digest(code)})"),
        evidence={
            "facet": facet,
            "before": _digest(old),
            "after": _digest(code),
            "previous_run_started": iso(prev[0].started_at),
            "changed_run_started": iso(run.started_at),
            "lines_added": added,
            "lines_removed": removed,
            "diff": diff[:MAX_DIFF_LINES],
            "diff_truncated": len(diff) > MAX_DIFF_LINES,
        },
    )
