"""HTTP executor against a real loopback server: dry run, execute, verify, rollback."""

from __future__ import annotations

from tests.tools.runbooks.fake_api import FakeApi
from tests.tools.runbooks.support import CAMPAIGN, SOURCE, make_context, plan_one, secrets_for
from tools.runbooks.executors import HttpExecutor
from tools.runbooks.loader import DEFAULT_DIR
from tools.runbooks.models import PlannedAction
from tools.runbooks.secrets import StaticSecrets

PAUSE = (DEFAULT_DIR / "campaign_pause.yaml").read_text()
CREDENTIAL = (DEFAULT_DIR / "sync_credentials_refresh.yaml").read_text()


def _pause_action() -> PlannedAction:
    ctx = make_context(
        root_cause=SOURCE,
        root_cause_kind="consent_mismatch",
        at_risk=[{"node": CAMPAIGN, "kind": "campaign"}],
    )
    return plan_one(PAUSE, ctx).model_copy(update={"run_key": "k1"})


def test_pause_campaign_dry_run_execute_verify_rollback(fake_api: FakeApi) -> None:
    fake_api.campaigns["spring_sale"] = "active"
    executor = HttpExecutor(secrets_for(fake_api.url))
    action = _pause_action()
    preview = executor.dry_run(action)
    assert fake_api.calls == []  # a dry run sends nothing
    assert preview.steps == [
        f"read prior state: GET {fake_api.url}/api/v1/campaigns/spring_sale",
        f"send: PUT {fake_api.url}/api/v1/campaigns/spring_sale/status json="
        "{'status': 'paused', 'reason': 'flowsleuth incident 7'}",
        f"undo with: PUT {fake_api.url}/api/v1/campaigns/spring_sale/status json="
        "{'status': '{{ prior.status }}'}",
    ]
    prior = executor.capture(action)
    assert prior == {"name": "spring_sale", "status": "active"}
    outcome = executor.execute(action, prior)
    assert outcome.ok and outcome.data["status_code"] == 200
    assert fake_api.campaigns["spring_sale"] == "paused"
    put = fake_api.writes()[0]
    assert put.headers["Authorization"] == "Bearer tok-123"
    assert put.headers["Idempotency-Key"] == "k1"
    assert executor.verify(action, prior).status == "passed"
    undone = executor.rollback(action, prior)
    assert undone.ok and fake_api.campaigns["spring_sale"] == "active"
    assert executor.verify(action, prior).status == "pending"


def test_secret_fields_are_sent_but_never_shown(fake_api: FakeApi) -> None:
    ctx = make_context(root_cause=CAMPAIGN, root_cause_kind="sync_failure")
    action = plan_one(CREDENTIAL, ctx)
    executor = HttpExecutor(secrets_for(fake_api.url, DESTINATION_API_KEY="s3cr3t"))
    assert "s3cr3t" not in action.model_dump_json()
    preview = executor.dry_run(action)
    assert "s3cr3t" not in preview.model_dump_json() and "'api_key': '***'" in preview.steps[1]
    prior = executor.capture(action)
    assert executor.execute(action, prior).ok
    assert fake_api.writes()[0].body == {"api_key": "s3cr3t"}
    assert executor.rollback(action, prior).ok
    assert fake_api.credentials["spring_sale"] == "none"


def test_unconfigured_target_and_server_errors(fake_api: FakeApi) -> None:
    action = _pause_action()
    bare = HttpExecutor(StaticSecrets({}))
    check = bare.check(action, "target_configured", {})
    assert not check.ok and "FLOWSLEUTH_SECRET_CAMPAIGNS_URL" in check.detail
    assert not bare.execute(action, {}).ok
    failing = action.model_copy(
        update={"http": action.http.model_copy(update={"path": "/api/v1/fail", "method": "POST"})}
        if action.http
        else {}
    )
    outcome = HttpExecutor(secrets_for(fake_api.url)).execute(failing, {})
    assert not outcome.ok and outcome.detail.endswith("-> 500")
