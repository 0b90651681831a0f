"""Block Kit for an incident: escaped telemetry, buttons only while a person can decide,
decisions shown, Slack's size limits kept, and a digest that moves only with the record."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agent.slack.blocks import (
    APPROVE,
    MAX_BLOCKS,
    REJECT,
    digest,
    incident_blocks,
    proposal_blocks,
    summary_text,
    text_blocks,
)
from tests.agent.slack.support import HOUR_US, queue_proposals
from tests.helpers.simstore import AT_US, Template, build_template, clone
from tools.incidents import EvidenceItem, IncidentView, get_incident, refresh_incidents
from tools.runbooks import Proposal, expire_stale, get_proposal, list_proposals, reject
from tools.runbooks.models import DryRun, VerificationResult
from tools.runbooks.roles import ApproverDirectory, UserEntry
from tools.store import Store, open_store

LEAD = ApproverDirectory({"lead": UserEntry(roles=["data-lead"])})
PUBLIC = "https://flowsleuth.example.com"
SLACK_TEXT_LIMIT = 3000  # section text and context elements


@dataclass(frozen=True)
class Real:
    incident: IncidentView
    waiting: list[Proposal]  # status "proposed", buttons expected
    rejected: Proposal  # decided by a person through the engine


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    return build_template(tmp_path_factory.mktemp("sim"), "expired_vendor_token")


@pytest.fixture(scope="module")
def real(template: Template, tmp_path_factory: pytest.TempPathFactory) -> Real:
    store = open_store(f"sqlite:///{clone(template, tmp_path_factory.mktemp('real'))}")
    try:
        [incident_id] = template.incident_ids
        queued = queue_proposals(store, incident_id)
        medium = next(p for p in queued if p.tier == "medium")
        reject(
            store,
            medium.id,
            "lead",
            "a re-run cannot fix a revoked token",
            directory=LEAD,
            now_us=AT_US + 60_000_000,
        )
        return Real(
            incident=get_incident(store, incident_id),
            waiting=[p for p in queued if p.id != medium.id],
            rejected=get_proposal(store, medium.id),
        )
    finally:
        store.dispose()


@pytest.fixture
def sim_store(template: Template, tmp_path: Path) -> Iterator[Store]:
    s = open_store(f"sqlite:///{clone(template, tmp_path)}")
    yield s
    s.dispose()


def texts(value: Any) -> list[str]:
    """Every text Slack renders in some blocks (sections, contexts, buttons, dialogs)."""
    found: list[str] = []
    if isinstance(value, dict):
        if isinstance(value.get("text"), str):
            found.append(value["text"])
        for item in value.values():
            if not isinstance(item, str):
                found += texts(item)
    elif isinstance(value, list):
        for item in value:
            found += texts(item)
    return found


def actions(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [b for b in blocks if b["type"] == "actions"]


def context_text(blocks: list[dict[str, Any]]) -> str:
    return "\n".join(e["text"] for b in blocks if b["type"] == "context" for e in b["elements"])


def decided(proposal: Proposal, status: str, **changes: Any) -> Proposal:
    values: dict[str, Any] = {
        "status": status,
        "decided_by": "lead",
        "decided_at": "2026-03-10T00:05:00Z",
        "reason": "rotated in the vault",
    }
    return proposal.model_copy(update=values | changes)


def test_telemetry_text_can_neither_mention_nor_link(real: Real) -> None:
    hostile = "<!channel> look <https://evil.example|click> & <@U0BOSS>"
    cause = real.incident.root_causes[0].model_copy(
        update={
            "kind": hostile,
            "node": "job:hightouch://acme:<!here>",
            "evidence": [EvidenceItem(ref="anomaly:1", text=hostile)] * 2,
        }
    )
    incident = real.incident.model_copy(
        update={
            "title": hostile,
            "root_causes": [cause],
            "owners": [hostile],
            "at_risk": [
                n.model_copy(update={"node": "dataset:b://a:<!here>"})
                for n in real.incident.at_risk
            ],
        }
    )
    waiting = real.waiting[0]
    proposals = [
        waiting.model_copy(
            update={
                "plan": waiting.plan.model_copy(update={"description": hostile}),
                "rollback_plan": {"summary": hostile},
                "dry_run": DryRun(summary=hostile, steps=[]),
            }
        ),
        decided(
            real.rejected,
            "failed",
            reason=hostile,
            decided_by="<!everyone>",
            result={"ok": False, "detail": hostile},
        ),
    ]
    blocks = incident_blocks(incident, proposals, public_url=PUBLIC)
    summary = summary_text(incident)
    rendered = [*texts(blocks), summary]
    ours = f"<{PUBLIC}/ui/incidents/{incident.id}|Open incident #{incident.id} in flowsleuth>"
    for text in rendered:
        bare = text.replace(ours, "")
        assert "<" not in bare and ">" not in bare, text
    everything = "\n".join(rendered)
    assert "&lt;https://evil.example|click&gt; &amp; &lt;@U0BOSS&gt;" in everything
    assert "&lt;!here&gt;" in everything and "&lt;!everyone&gt;" in everything
    # The notification text (what a phone shows) is mrkdwn too.
    assert summary.startswith(f"[CRITICAL] Incident #{incident.id}: &lt;!channel&gt; look")
    assert ours in everything, "flowsleuth's own link is still a link"


def test_buttons_only_while_a_proposal_waits_and_the_incident_is_open(real: Real) -> None:
    blocks = incident_blocks(real.incident, [*real.waiting, real.rejected])
    rows = actions(blocks)
    assert [b["block_id"] for b in rows] == [f"proposal-{p.id}" for p in real.waiting]
    for row, proposal in zip(rows, real.waiting, strict=True):
        approve, reject_ = row["elements"]
        assert (approve["action_id"], approve["value"], approve["style"]) == (
            APPROVE,
            str(proposal.id),
            "primary",
        )
        dialog = approve["confirm"]
        assert dialog["title"]["text"] == f"Approve proposal #{proposal.id}?"
        assert dialog["confirm"]["text"] == "Approve" and dialog["deny"]["text"] == "Cancel"
        assert (reject_["action_id"], reject_["value"], reject_["style"]) == (
            REJECT,
            str(proposal.id),
            "danger",
        )
        assert "confirm" not in reject_
    high = next(p for p in real.waiting if p.tier == "high")
    assert "Needs: data-lead · expires " in context_text(proposal_blocks(high))
    for status in (
        "approved",
        "applying",
        "applied",
        "failed",
        "rejected",
        "expired",
        "rolled_back",
    ):
        assert actions(proposal_blocks(high.model_copy(update={"status": status}))) == []
    resolved = real.incident.model_copy(
        update={"status": "resolved", "resolved_at": "2026-03-10T01:00:00Z"}
    )
    after = incident_blocks(resolved, real.waiting)
    assert actions(after) == []
    assert "The incident resolved first" in context_text(after)
    assert summary_text(resolved).startswith(f"[RESOLVED] Incident #{resolved.id}")


def test_a_decided_proposal_says_who_when_why_and_how_it_went(real: Real) -> None:
    rejected = context_text(proposal_blocks(real.rejected))
    assert (
        f"Rejected by *lead* at {real.rejected.decided_at}: a re-run cannot fix a revoked token"
        in rejected
    )
    high = next(p for p in real.waiting if p.tier == "high")
    applied = decided(
        high,
        "applied",
        result={"ok": True, "detail": "credential installed for the Braze sync"},
        verification=VerificationResult(status="passed", detail="the next sync succeeded"),
    )
    text = context_text(proposal_blocks(applied))
    assert "Approved by *lead* at 2026-03-10T00:05:00Z: rotated in the vault" in text
    assert "Status: applied" in text
    assert "Result: credential installed for the Braze sync" in text
    assert "Verification: passed — the next sync succeeded" in text
    # The approver is not the one who failed, nor the one who rolled back.
    failed = context_text(proposal_blocks(decided(high, "failed", result={"detail": "HTTP 500"})))
    assert "Approved by *lead*" in failed and "Status: failed" in failed
    assert "Failed by" not in failed and "Result: HTTP 500" in failed
    rolled = decided(
        high, "rolled_back", rolled_back_by="ops", rolled_back_at="2026-03-10T02:00:00Z"
    )
    assert "Rolled back by *ops* at 2026-03-10T02:00:00Z" in context_text(proposal_blocks(rolled))
    expired = high.model_copy(update={"status": "expired"})
    assert f"Expired {high.expires_at} without a decision" in context_text(proposal_blocks(expired))


def test_huge_evidence_and_many_proposals_stay_within_slacks_limits(real: Real) -> None:
    huge = "<x>&" * 4000  # 16k characters, four times that once escaped
    cause = real.incident.root_causes[0].model_copy(
        update={"evidence": [EvidenceItem(ref="anomaly:1", text=huge)] * 5}
    )
    incident = real.incident.model_copy(update={"title": huge, "root_causes": [cause]})
    template = real.waiting[0]
    waiting = [
        template.model_copy(
            update={"id": 100 + i, "plan": template.plan.model_copy(update={"description": huge})}
        )
        for i in range(30)
    ]
    blocks = incident_blocks(incident, waiting, public_url=PUBLIC)
    assert len(blocks) <= MAX_BLOCKS
    for block in blocks:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= SLACK_TEXT_LIMIT
        if block["type"] == "context":
            assert all(len(e["text"]) <= SLACK_TEXT_LIMIT for e in block["elements"])
    shown = [int(b["block_id"].split("-")[1]) for b in actions(blocks)]
    assert shown == [p.id for p in waiting[: len(shown)]] and len(shown) >= 10
    notes = context_text(blocks)
    assert f"{len(waiting) - len(shown)} more proposal(s) not shown" in notes
    assert blocks[-1]["type"] == "context" and PUBLIC in blocks[-1]["elements"][0]["text"]
    summary = summary_text(incident)
    assert len(summary) <= SLACK_TEXT_LIMIT and summary.endswith("/day at risk)")


def test_waiting_proposals_win_the_room_over_old_decided_ones(real: Real) -> None:
    old = [decided(real.rejected, "rejected").model_copy(update={"id": 10 + i}) for i in range(30)]
    proposals = [*old, *real.waiting]  # ascending ids, as the notifier passes them
    blocks = incident_blocks(real.incident, proposals, public_url=PUBLIC)
    assert len(blocks) <= MAX_BLOCKS
    assert [b["block_id"] for b in actions(blocks)] == [f"proposal-{p.id}" for p in real.waiting]
    text = "\n".join(texts(blocks))
    shown_old = [p.id for p in old if f"*Proposal #{p.id}*" in text]
    assert shown_old and shown_old == [p.id for p in old[-len(shown_old) :]], "newest first"
    assert f"{len(old) - len(shown_old)} more proposal(s) not shown" in text
    # With room for all, every proposal is shown and no note is added.
    few = incident_blocks(real.incident, [*old[:2], *real.waiting])
    assert "not shown" not in "\n".join(texts(few))


def test_the_digest_moves_with_a_proposals_status_and_only_then(
    sim_store: Store, template: Template
) -> None:
    store = sim_store
    [incident_id] = template.incident_ids
    queued = queue_proposals(store, incident_id)

    def current() -> str:
        incident = get_incident(store, incident_id)
        proposals = sorted(list_proposals(store, incident_id=incident_id), key=lambda p: p.id)
        blocks = incident_blocks(incident, proposals, public_url=PUBLIC)
        return digest(summary_text(incident), blocks)

    first = current()
    assert current() == first
    # The incident is re-derived (grouped, ranked, sized again) a minute later: its
    # updated_at moves, what the message says does not.
    before = get_incident(store, incident_id).updated_at
    refresh_incidents(store, AT_US + 60_000_000)
    assert get_incident(store, incident_id).updated_at != before
    assert current() == first
    medium = next(p for p in queued if p.tier == "medium")
    reject(store, medium.id, "lead", "not now", directory=LEAD, now_us=AT_US + 120_000_000)
    second = current()
    assert second != first and current() == second
    assert expire_stale(store, AT_US + 25 * HOUR_US)
    assert current() not in (first, second)


def mrkdwn_objects(value: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(value, dict):
        if value.get("type") == "mrkdwn":
            found.append(value)
        for item in value.values():
            found += mrkdwn_objects(item)
    elif isinstance(value, list):
        for item in value:
            found += mrkdwn_objects(item)
    return found


def test_every_text_is_verbatim_so_bare_urls_and_channels_stay_text(real: Real) -> None:
    """Escaping stops <...> links; bare URLs and #channels are auto-linked by Slack unless
    the text object is verbatim (Slack's text-object reference)."""
    bare = "see https://evil.example/login in #general @here"
    incident = real.incident.model_copy(update={"title": bare})
    blocks = incident_blocks(
        incident, [*real.waiting, real.rejected], public_url="https://fs.example"
    )
    objects = mrkdwn_objects(blocks) + mrkdwn_objects(text_blocks(bare * 200))
    assert objects and all(o.get("verbatim") is True for o in objects)
