"""Late data: a dataset whose next write is overdue against the schedule of its writers.

The schedule is learned, not configured: the interval is the median spacing of the
writers' scheduled slots (OpenLineage ``nominalTime``, else the start time), and the usual
landing delay is the median time from slot to successful completion. A write is overdue
once the slot after the newest successful one has passed by that delay plus an allowance
(four robust sigmas of past delays, at least 15 minutes or 2% of the interval). The onset is when
the missing write should have landed (or, when the writes before it also landed late,
when the first of those should have). The usual delay comes from every write in the
lookback, so a delay that persists is reported for days rather than accepted overnight.

Sources no job writes report their own lag as ``data.freshness.lag``; that series is scored
like any other (it saws up and down with each delivery, which the hour-of-day baseline
learns), and catalog freshness SLOs are evaluated in ``tools.detect.slo``.
"""

from __future__ import annotations

import numpy as np

from tools.anomalies import Detection
from tools.detect.detectors.base import (
    DetectContext,
    Detector,
    Finding,
    MetricRule,
    duration,
    short_time,
)
from tools.detect.signals import Landing, RunAsOf, freshness_lag_s, schedule_interval
from tools.nodes import NodeRef
from tools.timeutil import iso

LAG = MetricRule("data.freshness.lag", up="late_data", down=None, noun="freshness lag",
                 unit="s", min_abs_change=3600.0, min_rel_change=0.1, min_points=2)
MIN_ALLOWANCE_US = 15 * 60 * 1_000_000
ALLOWANCE_SHARE = 0.02
SPREADS = 4.0
LISTED_LANDINGS = 10


class FreshnessDetector(Detector):
    name = "freshness"
    rules = (LAG,)

    def detect(self, ctx: DetectContext, findings: list[Finding]) -> list[Detection]:
        out = super().detect(ctx, findings)
        runs_by_job: dict[NodeRef, list[RunAsOf]] = {}
        for run in ctx.runs:
            runs_by_job.setdefault(run.job, []).append(run)
        for ds, landed in ctx.landings.items():
            if not ctx.enabled(self.name, ds):
                continue
            writer_runs = [r for j in ctx.writers.get(ds, []) for r in runs_by_job.get(j, [])]
            det = overdue(ds, landed, writer_runs, ctx.at_us)
            if det is not None:
                out.append(det)
        return out


def overdue(ds: NodeRef, landed: list[Landing], writer_runs: list[RunAsOf], at_us: int
            ) -> Detection | None:
    """A late_data Detection when the write after the newest one is overdue."""
    slots = [r.scheduled_at for r in writer_runs if r.scheduled_at is not None]
    slots += [x.slot_us for x in landed]
    interval = schedule_interval(slots)
    if interval is None or interval <= 0:
        return None
    # The usual pace is that of every write in the lookback: a delay that persists stays
    # late for days (until it is half the history), instead of becoming normal overnight.
    delays = np.asarray([x.landed_us - x.slot_us for x in landed], dtype=np.float64)
    typical = float(np.median(delays))
    # A robust spread (MAD): the late writes being judged must not widen their own band.
    spread = 1.4826 * float(np.median(np.abs(delays - typical)))
    allowance = typical + max(MIN_ALLOWANCE_US, ALLOWANCE_SHARE * interval, SPREADS * spread)
    newest = landed[-1]
    due_slot = newest.slot_us + interval
    deadline = due_slot + allowance
    if at_us <= deadline:
        return None
    missed = int((at_us - deadline) // interval) + 1
    lag_s = freshness_lag_s(landed, at_us) or 0.0
    normal_s = (interval + typical) / 1e6
    # Lateness that persists (every run delayed) is one episode: it began with the first
    # of the writes just before this one that also landed past their allowance.
    first_late = due_slot
    for x in reversed(landed):
        if x.landed_us - x.slot_us <= allowance:
            break
        first_late = x.slot_us
    should_have = first_late + int(typical)
    pending = [r for r in writer_runs if r.ended_at is None and (r.scheduled_at or 0) >= due_slot]
    failed = [r for r in writer_runs if r.state in ("FAIL", "ABORT") and
              (r.scheduled_at or 0) >= due_slot]
    why = ""
    if failed:
        why = f"; the writer's run for it failed ({(failed[-1].error_message or '').strip()[:80]})"
    elif pending:
        why = f"; a run started {short_time(pending[-1].started_at or 0)} is still going"
    summary = (f"{ds.name} is late: no successful write since {short_time(newest.landed_us)} "
               f"(every {duration(interval / 1e6)}; the next should have landed by "
               f"{short_time(due_slot + int(typical))}, lag now {duration(lag_s)}){why}")
    return Detection(
        node=ds,
        kind="late_data",
        metric="freshness",
        attributes={},
        onset_us=should_have,
        score=round((at_us - should_have) / interval, 3),
        severity="high" if missed >= 2 else "medium",
        summary=summary,
        observed=round(lag_s, 3),
        expected=round(normal_s, 3),
        lower=0.0,
        upper=round((interval + allowance) / 1e6, 3),
        evidence={
            "schedule_interval_s": interval / 1e6,
            "typical_delay_s": round(typical / 1e6, 3),
            "allowance_s": round(allowance / 1e6, 3),
            "last_landed": iso(newest.landed_us),
            "last_slot": iso(newest.slot_us),
            "due_slot": iso(due_slot),
            "late_since_slot": iso(first_late),
            "missed_slots": missed,
            "writers": sorted({str(x.job) for x in landed}),
            "recent_landings": [[iso(x.slot_us), iso(x.landed_us)]
                                for x in landed[-LISTED_LANDINGS:]],
        },
    )
