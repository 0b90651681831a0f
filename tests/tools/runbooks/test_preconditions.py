"""Preconditions block actions whose world is not as the playbook needs it."""

from __future__ import annotations

from datetime import timedelta

from tests.tools.runbooks.support import (
    JOB,
    T0,
    make_context,
    plan_one,
    secrets_for,
    seed_node,
    seed_run,
)
from tools.runbooks.executors import ExecutorRegistry, HttpExecutor, SqlExecutor
from tools.runbooks.loader import DEFAULT_DIR
from tools.runbooks.preconditions import all_ok, check_preconditions
from tools.runbooks.secrets import StaticSecrets
from tools.store import Store

RETRY = (DEFAULT_DIR / "job_failure_retry.yaml").read_text()
CREDENTIAL = (DEFAULT_DIR / "sync_credentials_refresh.yaml").read_text()


def test_retry_is_blocked_by_an_unknown_job_and_by_a_run_in_progress(store: Store) -> None:
    vault = secrets_for("http://127.0.0.1:9")
    registry = ExecutorRegistry([HttpExecutor(vault)])
    action = plan_one(RETRY, make_context())
    first = check_preconditions(action, store=store, executors=registry, secrets=vault)
    assert [c.check for c in first] == ["target_configured", "node_exists", "no_run_in_progress"]
    assert first[0].ok and not first[1].ok and "unknown node" in first[1].detail
    job = seed_node(store, JOB)
    seed_run(store, job, "FAIL", T0 - timedelta(hours=1), "r1")
    assert all_ok(check_preconditions(action, store=store, executors=registry, secrets=vault))
    seed_run(store, job, "RUNNING", T0, "r2")
    blocked = check_preconditions(action, store=store, executors=registry, secrets=vault)
    assert [c.ok for c in blocked] == [True, True, False]
    assert blocked[2].detail == f"run r2 of {JOB} is RUNNING"


def test_missing_secret_target_or_executor_blocks(store: Store) -> None:
    ctx = make_context(root_cause="dataset:braze:dest", root_cause_kind="sync_failure")
    action = plan_one(CREDENTIAL, ctx)
    empty = StaticSecrets({})
    results = check_preconditions(
        action, store=store, executors=ExecutorRegistry([HttpExecutor(empty)]), secrets=empty
    )
    assert [(c.check, c.ok) for c in results] == [
        ("target_configured", False),
        ("secret_present", False),
    ]
    assert results[1].detail == "secret DESTINATION_API_KEY is not set"
    nothing = check_preconditions(
        action, store=store, executors=ExecutorRegistry([SqlExecutor({})]), secrets=empty
    )
    assert nothing[0].check == "executor_configured" and not nothing[0].ok
