"""Verification waits for a signal seen after the action, until its deadline."""

from __future__ import annotations

from datetime import timedelta

from tests.tools.runbooks.support import (
    JOB,
    T0,
    make_context,
    plan_one,
    seed_metric,
    seed_node,
    seed_run,
)
from tools.runbooks.executors import HttpExecutor
from tools.runbooks.loader import DEFAULT_DIR
from tools.runbooks.secrets import StaticSecrets
from tools.runbooks.verification import verify_action
from tools.store import Store, to_micros

RESYNC = (DEFAULT_DIR / "sync_failure_rerun.yaml").read_text()
RETRY = (DEFAULT_DIR / "job_failure_retry.yaml").read_text()
DEST = "dataset:hightouch:braze_sync"
H = 3_600_000_000


def test_metric_must_recover_after_the_action_within_the_deadline(store: Store) -> None:
    node = seed_node(store, DEST)
    action = plan_one(RESYNC, make_context(root_cause=DEST, root_cause_kind="sync_failure"))
    executor = HttpExecutor(StaticSecrets({}))
    applied = to_micros(T0)

    def check(now_offset_h: float) -> str:
        result = verify_action(
            action,
            {},
            store=store,
            executor=executor,
            applied_at_us=applied,
            now_us=applied + int(now_offset_h * H),
        )
        return f"{result.status}: {result.detail}"

    # A healthy point from before the action does not count.
    seed_metric(store, node, "activation.sync.success_ratio", [(T0 - timedelta(hours=2), 1.0)])
    assert check(0.1).startswith("pending: no activation.sync.success_ratio point")
    assert check(1.5).startswith("failed: not recovered within 1h")
    seed_metric(
        store,
        node,
        "activation.sync.success_ratio",
        [(T0 + timedelta(minutes=5), 0.5), (T0 + timedelta(minutes=20), 0.98)],
        destination="braze",
    )
    assert check(0.5) == "passed: activation.sync.success_ratio = 0.98 >= 0.95"


def test_run_succeeded_and_a_failed_rerun(store: Store) -> None:
    job = seed_node(store, JOB)
    action = plan_one(RETRY, make_context())
    executor = HttpExecutor(StaticSecrets({}))
    applied = to_micros(T0)
    kw = {"store": store, "executor": executor, "applied_at_us": applied, "now_us": applied + H}
    assert verify_action(action, {}, **kw).status == "pending"
    seed_run(store, job, "FAIL", T0 + timedelta(minutes=10), "again")
    assert verify_action(action, {}, **kw).status == "failed"
    seed_run(store, job, "COMPLETE", T0 + timedelta(minutes=30), "fixed")
    result = verify_action(action, {}, **kw)
    assert (result.status, result.observed["run"]) == ("passed", "fixed")
