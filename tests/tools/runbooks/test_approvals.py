"""The approval queue: propose, roles, exactly-once approval and apply, rollback, expiry."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tests.tools.runbooks.fake_api import FakeApi
from tests.tools.runbooks.support import (
    CAMPAIGN,
    JOB,
    SOURCE,
    T0,
    make_context,
    secrets_for,
    seed_node,
    seed_run,
)
from tools.runbooks import (
    ApprovalSettings,
    Decision,
    NotAllowedError,
    RemediationContext,
    apply,
    approve,
    expire_stale,
    get_proposal,
    list_audit,
    list_proposals,
    propose,
    reject,
    rollback,
    verify,
    verify_chain,
)
from tools.runbooks.executors import ExecutorRegistry, HttpExecutor
from tools.runbooks.loader import DEFAULT_DIR, load_playbook_file
from tools.runbooks.proposals import Proposal
from tools.runbooks.roles import ApproverDirectory
from tools.runbooks.schema import Playbook
from tools.store import Store, to_micros
from tools.store.models_runbooks import AuditRow

NOW = to_micros(T0)
LEADS = {f"lead{i}": ["data-lead"] for i in range(50)}
SETTINGS = ApprovalSettings(
    users={"agent": ["data-lead"], "eng": ["data-engineer"], "viewer": [], **LEADS},
    teams={"crm-person": ["crm"]},
    ttl="1h",
)


def _books(*names: str) -> list[Playbook]:
    books = [load_playbook_file(DEFAULT_DIR / f"{n}.yaml") for n in names]
    assert all(isinstance(b, Playbook) for b in books)
    return books


def _consent_incident() -> RemediationContext:
    return make_context(
        root_cause=SOURCE,
        root_cause_kind="consent_mismatch",
        at_risk=[{"node": CAMPAIGN, "kind": "campaign", "owner": "crm", "revenue_per_day": 900}],
        revenue_at_risk_per_day=900,
        campaigns_affected=1,
        owners=["crm"],
    )


def _setup(
    store: Store, api: FakeApi, *, auto: bool = True
) -> tuple[ExecutorRegistry, list[Proposal]]:
    api.campaigns["spring_sale"] = "active"
    vault = secrets_for(api.url)
    registry = ExecutorRegistry([HttpExecutor(vault)])
    proposals = propose(
        store,
        _consent_incident(),
        playbooks=_books("campaign_pause", "notify_owners"),
        executors=registry,
        secrets=vault,
        settings=SETTINGS,
        requested_by="agent",
        auto_apply=auto,
        now_us=NOW,
    )
    return registry, proposals


def _kw() -> dict[str, Any]:
    return {
        "settings": SETTINGS,
        "directory": ApproverDirectory.from_settings(SETTINGS),
        "now_us": NOW,
    }


def test_proposals_carry_evidence_blast_radius_dry_run_and_rollback_plan(
    store: Store, fake_api: FakeApi
) -> None:
    _, proposals = _setup(store, fake_api, auto=False)
    by_type = {p.action_type: p for p in proposals}
    pause = by_type["pause_campaign"]
    assert (pause.tier, pause.status, pause.auto_apply_allowed) == ("high", "proposed", False)
    assert pause.blast_radius["revenue_at_risk_per_day"] == 900
    assert pause.blast_radius["campaigns_affected"] == 1
    assert pause.preconditions_ok and pause.dry_run is not None
    assert (
        pause.dry_run.summary == "pause_campaign: PUT campaigns/api/v1/campaigns/spring_sale/status"
    )
    assert pause.rollback_plan["summary"] == "PUT campaigns/api/v1/campaigns/spring_sale/status"
    assert "impact" in pause.evidence
    assert pause.expires_at_us == NOW + 3_600_000_000
    assert by_type["notify_owner"].tier == "low"
    assert fake_api.writes() == []  # proposing changed nothing anywhere
    again = propose(
        store,
        _consent_incident(),
        playbooks=_books("campaign_pause", "notify_owners"),
        executors=ExecutorRegistry([HttpExecutor(secrets_for(fake_api.url))]),
        settings=SETTINGS,
        auto_apply=False,
        now_us=NOW,
    )
    assert sorted(p.id for p in again) == sorted(p.id for p in proposals)
    assert [e.event for e in list_audit(store)] == ["proposed", "proposed"]


def test_low_risk_auto_applies_and_high_impact_waits(store: Store, fake_api: FakeApi) -> None:
    _, proposals = _setup(store, fake_api)
    status = {p.action_type: p.status for p in proposals}
    assert status == {"pause_campaign": "proposed", "notify_owner": "applied"}
    [notify] = fake_api.writes()
    assert notify.path == "/api/v1/notify" and notify.body["owners"] == ["crm"]
    assert fake_api.campaigns["spring_sale"] == "active"
    applied = next(p for p in proposals if p.status == "applied")
    assert applied.decided_by == "policy:auto"
    assert verify(store, applied.id, ExecutorRegistry(), now_us=NOW).status == "passed"
    events = [e.event for e in reversed(list_audit(store))]
    assert events == [
        "proposed",
        "proposed",
        "approved",
        "apply_started",
        "applied",
        "verification_passed",
    ]
    assert verify_chain(store).ok


def test_requester_and_unprivileged_users_are_refused(store: Store, fake_api: FakeApi) -> None:
    _, proposals = _setup(store, fake_api, auto=False)
    pause = next(p for p in proposals if p.action_type == "pause_campaign")
    with pytest.raises(NotAllowedError, match="agent requested this high-impact action"):
        approve(store, pause.id, "agent", "looks right", **_kw())
    with pytest.raises(NotAllowedError, match=r"eng has roles \[data-engineer\]; a high-tier"):
        approve(store, pause.id, "eng", **_kw())
    with pytest.raises(NotAllowedError, match=r"viewer has roles \[none\]"):
        reject(store, pause.id, "viewer", **_kw())
    # Owning team members may approve low and medium, not high.
    with pytest.raises(NotAllowedError):
        approve(store, pause.id, "crm-person", **_kw())
    notify = next(p for p in proposals if p.action_type == "notify_owner")
    assert approve(store, notify.id, "crm-person", **_kw()).won
    assert get_proposal(store, pause.id).status == "proposed"
    refused = [e for e in list_audit(store) if e.event.endswith("_refused")]
    assert len(refused) == 4 and refused[-1].actor == "agent"
    # The requester may still withdraw their own proposal.
    assert reject(store, pause.id, "agent", "wrong campaign", **_kw()).won
    assert get_proposal(store, pause.id).status == "rejected"


def test_fifty_parallel_approvals_apply_exactly_once(store: Store, fake_api: FakeApi) -> None:
    registry, proposals = _setup(store, fake_api, auto=False)
    pause = next(p for p in proposals if p.action_type == "pause_campaign")
    barrier = threading.Barrier(50)
    decisions: list[Decision] = []
    hooked: list[Decision] = []
    errors: list[BaseException] = []
    directory = ApproverDirectory.from_settings(SETTINGS)

    def worker(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            d = approve(
                store,
                pause.id,
                f"lead{i}",
                "go",
                settings=SETTINGS,
                directory=directory,
                on_decision=hooked.append,
                now_us=NOW,
            )
            decisions.append(d)
            if d.won:
                apply(store, pause.id, registry, actor=f"lead{i}", now_us=NOW)
            else:  # losers try to apply too: the status claim must stop them
                apply(store, pause.id, registry, actor=f"lead{i}", now_us=NOW)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert sum(d.won for d in decisions) == 1 and len(decisions) == 50
    assert len(hooked) == 1 and hooked[0].won
    puts = [c for c in fake_api.writes() if c.path.endswith("/status")]
    assert len(puts) == 1 and fake_api.campaigns["spring_sale"] == "paused"
    final = get_proposal(store, pause.id)
    assert final.status == "applied" and final.prior_state == {
        "name": "spring_sale",
        "status": "active",
    }
    counts = Counter(e.event for e in list_audit(store, proposal_id=pause.id))
    assert (counts["approved"], counts["apply_started"], counts["applied"]) == (1, 1, 1)
    assert verify_chain(store).ok
    with store.read() as conn:
        seqs = conn.execute(select(AuditRow.seq).order_by(AuditRow.seq)).scalars().all()
    assert seqs == list(range(1, len(seqs) + 1))


def test_rollback_restores_prior_state_once(store: Store, fake_api: FakeApi) -> None:
    registry, proposals = _setup(store, fake_api, auto=True)
    pause = next(p for p in proposals if p.action_type == "pause_campaign")
    assert approve(store, pause.id, "lead1", **_kw()).won
    assert apply(store, pause.id, registry, now_us=NOW).done
    assert fake_api.campaigns["spring_sale"] == "paused"
    result = rollback(store, pause.id, registry, "lead2", "false alarm", **_kw())
    assert result.done and result.status == "rolled_back"
    assert fake_api.campaigns["spring_sale"] == "active"
    again = rollback(store, pause.id, registry, "lead2", **_kw())
    assert not again.done and again.status == "rolled_back"
    notify = next(p for p in proposals if p.action_type == "notify_owner")
    with pytest.raises(NotAllowedError, match="not reversible: a message that was sent"):
        rollback(store, notify.id, registry, "lead2", **_kw())
    assert verify_chain(store).ok


def test_stale_proposals_expire_and_cannot_be_approved(store: Store, fake_api: FakeApi) -> None:
    _, proposals = _setup(store, fake_api, auto=False)
    assert expire_stale(store, NOW + 1) == []
    later = NOW + 2 * 3_600_000_000
    assert sorted(expire_stale(store, later)) == sorted(p.id for p in proposals)
    late = approve(store, proposals[0].id, "lead1", settings=SETTINGS, now_us=later)
    assert (late.won, late.outcome, late.status) == (False, "expired", "expired")
    assert {p.status for p in list_proposals(store)} == {"expired"}


def test_apply_rechecks_preconditions(store: Store, fake_api: FakeApi) -> None:
    job = seed_node(store, JOB)
    seed_run(store, job, "FAIL", T0 - timedelta(hours=1), "r1")
    vault = secrets_for(fake_api.url)
    registry = ExecutorRegistry([HttpExecutor(vault)])
    [retry] = propose(
        store,
        make_context(revenue_at_risk_per_day=5_000),
        playbooks=_books("job_failure_retry"),
        executors=registry,
        secrets=vault,
        settings=SETTINGS,
        now_us=NOW,
    )
    assert (retry.tier, retry.status) == ("medium", "proposed")
    assert approve(store, retry.id, "eng", **_kw()).won
    seed_run(store, job, "RUNNING", T0, "r2")
    result = apply(store, retry.id, registry, secrets=vault, now_us=NOW)
    assert (result.done, result.status) == (False, "failed")
    assert "run r2 of job:airflow:load_orders is RUNNING" in result.message
    assert fake_api.writes() == []
