"""The simulator executor forwards to SimulatorControl and journals every call."""

from __future__ import annotations

from tests.tools.runbooks.support import AUDIENCE, make_context, plan_one
from tools.runbooks.executors import ExecutorRegistry, InMemorySimulator, SimulatorExecutor
from tools.runbooks.loader import DEFAULT_DIR

FALLBACK = (DEFAULT_DIR / "snapshot_fallback.yaml").read_text()


def test_apply_verify_and_rollback_through_the_protocol() -> None:
    sim = InMemorySimulator(known={"audience_cart"})
    sim.state["audience_cart"] = {"source": "live"}
    executor = SimulatorExecutor(sim)
    registry = ExecutorRegistry()
    registry.add(executor, as_name="sql")  # unchanged SQL playbooks run on the simulator
    ctx = make_context(
        root_cause="dataset:pg:raw",
        root_cause_kind="schema_drift",
        at_risk=[{"node": AUDIENCE, "kind": "audience"}],
    )
    action = plan_one(FALLBACK, ctx)
    routed = registry.get(action.executor)
    assert routed.check(action, "view_exists", {}).ok
    assert not routed.check(action, "snapshot_exists", {"view": "x", "snapshot_prefix": "y"}).ok
    preview = routed.dry_run(action)
    assert sim.state == {"audience_cart": {"source": "live"}}
    assert preview.observed == {"prior": {"source": "live"}}
    assert routed.verify(action, {}).status == "pending"
    prior = routed.capture(action)
    outcome = routed.execute(action, prior)
    assert outcome.ok and sim.state["audience_cart"]["status"] == "remediated"
    assert routed.verify(action, prior).status == "passed"
    assert routed.rollback(action, prior).ok
    assert sim.state == {"audience_cart": {"source": "live"}}
    assert [e.call for e in executor.journal] == ["capture", "apply", "rollback"]


def test_a_failing_simulator_is_a_failed_action_not_a_crash() -> None:
    class Broken(InMemorySimulator):
        def apply(self, action: str, params: dict[str, object]) -> dict[str, object]:
            raise RuntimeError("stack is down")

    executor = SimulatorExecutor(Broken())
    ctx = make_context(
        root_cause="dataset:pg:raw",
        root_cause_kind="schema_drift",
        at_risk=[{"node": AUDIENCE, "kind": "audience"}],
    )
    outcome = executor.execute(plan_one(FALLBACK, ctx), {})
    assert not outcome.ok and outcome.detail == "simulator apply failed: stack is down"
    assert executor.journal[-1].error == "stack is down"
