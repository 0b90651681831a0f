"""Failed runs: a job whose latest attempts FAILed (or were ABORTed) with no COMPLETE since.

One failure is open from the first failed run after the last success until a later run
completes. A single failed attempt is low severity while a retry or rerun within the
schedule interval could still make it a benign blip; repeated attempts, or a failure that
outlives its schedule slot, are high. A failing job that writes a catalog ``activation``
asset is a reverse-ETL sync, so its kind is ``sync_failure``.
"""

from __future__ import annotations

from collections import defaultdict

from tools.anomalies import Detection
from tools.detect.detectors.base import DetectContext, Detector, Finding, duration, short_time
from tools.detect.signals import RunAsOf, schedule_interval
from tools.nodes import NodeRef
from tools.timeutil import iso

FAILED = frozenset({"FAIL", "ABORT"})
MAX_MESSAGE = 400
MAX_RUNS_IN_EVIDENCE = 10


def job_outputs(writers: dict[NodeRef, list[NodeRef]]) -> dict[NodeRef, list[NodeRef]]:
    out: dict[NodeRef, list[NodeRef]] = defaultdict(list)
    for ds, jobs in writers.items():
        for job in jobs:
            out[job].append(ds)
    return out


class JobsDetector(Detector):
    name = "jobs"

    def detect(self, ctx: DetectContext, findings: list[Finding]) -> list[Detection]:
        by_job: dict[NodeRef, list[RunAsOf]] = defaultdict(list)
        for run in ctx.runs:
            by_job[run.job].append(run)
        outputs = job_outputs(ctx.writers)
        out = []
        for job, runs in by_job.items():
            if not ctx.enabled(self.name, job):
                continue
            det = failure(job, runs, outputs.get(job, []), ctx)
            if det is not None:
                out.append(det)
        return out


def failure(job: NodeRef, runs: list[RunAsOf], outputs: list[NodeRef], ctx: DetectContext
            ) -> Detection | None:
    ended = sorted((r for r in runs if r.ended_at is not None), key=lambda r: r.ended_at or 0)
    last_ok = max((r.ended_at or 0 for r in ended if r.state == "COMPLETE"), default=None)
    failed = [r for r in ended if r.state in FAILED and (last_ok is None or
                                                          (r.ended_at or 0) > last_ok)]
    if not failed:
        return None
    interval = schedule_interval([r.scheduled_at for r in runs if r.scheduled_at is not None])
    onset = min(r.scheduled_at or r.ended_at or 0 for r in failed)
    latest = failed[-1]
    age = ctx.at_us - (latest.ended_at or ctx.at_us)
    slots = {r.scheduled_at for r in failed}
    # A lone failed attempt may still be retried within its slot; after that, or once a
    # retry failed too, the job is down.
    lone = len(failed) == 1 and (interval is None or age < interval)
    severity = "low" if lone else "high"
    sync = any(ctx.catalog_kind(ds) == "activation" for ds in outputs)
    kind = "sync_failure" if sync else "job_failure"
    message = (latest.error_message or "no error message").strip()
    first_line = message.splitlines()[0] if message else "no error message"
    since_ok = f"last success {short_time(last_ok)}" if last_ok is not None else \
        "no success in the window"
    what = "sync" if sync else "job"
    summary = (f"{what} {job.name} failed {len(failed)} time(s) in {len(slots)} scheduled "
               f"run(s) since {short_time(onset)} ({since_ok}): {first_line[:160]}")
    errors = sorted({(r.error_message or "").strip()[:MAX_MESSAGE] for r in failed} - {""})
    return Detection(
        node=job,
        kind=kind,
        metric="run.state",
        attributes={},
        onset_us=onset,
        score=float(len(failed)),
        severity=severity,
        summary=summary,
        observed=float(len(failed)),
        expected=0.0,
        evidence={
            "failed_runs": [
                {"scheduled": iso(r.scheduled_at), "ended": iso(r.ended_at), "state": r.state}
                for r in failed[-MAX_RUNS_IN_EVIDENCE:]
            ],
            "error_messages": errors[:3],
            "last_success": iso(last_ok),
            "schedule_interval": duration(interval / 1e6) if interval else None,
            "outputs": [str(ds) for ds in outputs],
            "benign_if": "a rerun completes within the schedule interval" if lone else None,
        },
    )
