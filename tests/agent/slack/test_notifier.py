"""IncidentNotifier against the fake Slack Web API, over a simulated store on every
backend: one message per incident, posted once, edited in place, claimed in the store."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient
from sqlalchemy import insert, select

from agent.slack.notifier import PROVIDER, STALE_CLAIM_US, IncidentNotifier, SyncReport
from agent.slack.settings import SlackSettings, load_slack_settings
from tests.agent.slack.fake_slack import FakeSlack, serve_fake_slack
from tests.agent.slack.support import HOUR_US, queue_proposals, resolve_everything
from tests.helpers.simstore import AT_US, load_into
from tools.incidents import get_incident
from tools.runbooks import Proposal, approve, get_proposal, reject
from tools.runbooks.roles import ApproverDirectory, UserEntry
from tools.store import Store, open_store
from tools.store.models_notifications import NotificationRow

OWNER = "lifecycle-marketing"  # the owner of the expired_vendor_token incident's audience
OWNER_CHANNEL = "C0LIFECYCLE"
DEFAULT_CHANNEL = "C0DEFAULT"
LEAD = ApproverDirectory({"lead": UserEntry(roles=["data-lead"])})


def settings_for(fake: FakeSlack, **env: str) -> SlackSettings:
    base = {
        "FLOWSLEUTH_SLACK_BOT_TOKEN": "xoxb-test",
        "FLOWSLEUTH_SLACK_SIGNING_SECRET": "secret",
        "FLOWSLEUTH_SLACK_API_URL": fake.api_url,
        "FLOWSLEUTH_SLACK_CHANNELS": json.dumps({"paid-media": "C0PAID", OWNER: OWNER_CHANNEL}),
        "FLOWSLEUTH_SLACK_DEFAULT_CHANNEL": DEFAULT_CHANNEL,
    }
    return load_slack_settings({k: v for k, v in (base | env).items() if v})


def client_for(api_url: str) -> WebClient:
    # No retries: a refused connection should fail the sync now, not after a back-off.
    return WebClient(token="xoxb-test", base_url=api_url, retry_handlers=[])


def notifier_for(
    store: Store,
    fake: FakeSlack,
    settings: SlackSettings | None = None,
    clock: Callable[[], int] = lambda: AT_US,
) -> IncidentNotifier:
    return IncidentNotifier(
        store, client_for(fake.api_url), settings or settings_for(fake), clock=clock
    )


def rows(store: Store) -> list[NotificationRow]:
    with store.read() as conn:
        found = conn.execute(select(NotificationRow)).mappings().all()
    return [NotificationRow(**dict(r)) for r in found]


def actions(blocks: list[dict[str, Any]]) -> set[str]:
    return {str(b["block_id"]) for b in blocks if b["type"] == "actions"}


def decided_lines(blocks: list[dict[str, Any]]) -> str:
    return json.dumps([b for b in blocks if b["type"] == "context"])


def quiet(report: SyncReport) -> bool:
    return not (report.posted or report.updated or report.skipped or report.failed)


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with serve_fake_slack() as slack:
        yield slack


@pytest.fixture
def incident(store: Store, tmp_path: Path) -> int:
    [incident_id] = load_into(store, tmp_path / "sim", "expired_vendor_token")
    return incident_id


@pytest.fixture
def proposals(store: Store, incident: int) -> list[Proposal]:
    queued = queue_proposals(store, incident)
    assert {p.tier for p in queued} == {"low", "medium", "high"}
    return queued


def test_the_first_sync_posts_once_to_the_owners_channel(
    store: Store, fake: FakeSlack, incident: int, proposals: list[Proposal]
) -> None:
    assert get_incident(store, incident).owners == [OWNER]
    notifier = notifier_for(store, fake)
    report = notifier.sync()
    assert report.posted == [incident] and not report.failed and not report.skipped
    [posted] = fake.of("chat.postMessage")
    assert posted["channel"] == OWNER_CHANNEL
    assert posted["text"].startswith(f"[CRITICAL] Incident #{incident}: sync failure at ")
    assert actions(posted["blocks"]) == {f"proposal-{p.id}" for p in proposals}
    message = notifier.message_of(incident)
    assert message is not None and message.channel == OWNER_CHANNEL
    [row] = rows(store)
    assert (row.provider, row.incident_id, row.ref, row.status) == (
        PROVIDER,
        incident,
        message.ts,
        "open",
    )
    calls = len(fake.calls)
    again = notifier.sync()
    assert again.unchanged == [incident] and quiet(again)
    assert len(fake.calls) == calls, "nothing changed, so Slack hears nothing"


def test_an_incident_of_an_owner_without_a_channel_goes_to_the_default(
    store: Store, fake: FakeSlack, incident: int
) -> None:
    settings = settings_for(fake, FLOWSLEUTH_SLACK_CHANNELS=json.dumps({"paid-media": "C0PAID"}))
    assert notifier_for(store, fake, settings).sync().posted == [incident]
    assert [a["channel"] for a in fake.of("chat.postMessage")] == [DEFAULT_CHANNEL]


def test_the_resolution_is_edited_into_the_same_message(
    store: Store, fake: FakeSlack, incident: int, proposals: list[Proposal]
) -> None:
    notifier = notifier_for(store, fake)
    notifier.sync()
    [posted] = fake.of("chat.postMessage")
    ts = rows(store)[0].ref
    later = AT_US + HOUR_US
    resolve_everything(store, later)
    assert get_incident(store, incident).status == "resolved"
    report = notifier_for(store, fake, clock=lambda: later).sync()
    assert report.updated == [incident] and not report.posted
    [edit] = fake.of("chat.update")
    assert (edit["channel"], edit["ts"]) == (posted["channel"], ts)
    assert edit["text"].startswith(f"[RESOLVED] Incident #{incident}")
    # Still-undecided proposals lose their buttons once there is nothing left to fix.
    assert actions(edit["blocks"]) == set()
    assert [r.status for r in rows(store)] == ["resolved"]
    calls = len(fake.calls)
    last = notifier_for(store, fake, clock=lambda: later).sync()
    assert quiet(last) and last.unchanged == []  # a resolved message is not even looked at
    assert len(fake.calls) == calls
    assert len(fake.of("chat.postMessage")) == 1


def test_a_failed_edit_is_retried_on_the_next_sync(
    store: Store, fake: FakeSlack, incident: int
) -> None:
    notifier = notifier_for(store, fake)
    notifier.sync()
    resolve_everything(store, AT_US + HOUR_US)
    fake.failing["chat.update"] = "ratelimited"
    assert notifier.sync().failed == {incident: "ratelimited"}
    assert [r.status for r in rows(store)] == ["open"], "the edit did not land"
    del fake.failing["chat.update"]
    assert notifier.sync().updated == [incident]
    assert [a["text"][:10] for a in fake.of("chat.update")] == ["[RESOLVED]", "[RESOLVED]"]


def test_a_decision_edits_the_message_and_takes_its_buttons_away(
    store: Store, fake: FakeSlack, incident: int, proposals: list[Proposal]
) -> None:
    notifier = notifier_for(store, fake)
    notifier.sync()
    ts = rows(store)[0].ref
    by_tier = {p.tier: p.id for p in proposals}
    approve(
        store,
        by_tier["high"],
        "lead",
        "token rotated in the vault",
        directory=LEAD,
        now_us=AT_US + 60_000_000,
    )
    assert notifier.sync().updated == [incident]
    [edit] = fake.of("chat.update")
    assert edit["ts"] == ts
    assert actions(edit["blocks"]) == {
        f"proposal-{by_tier['low']}",
        f"proposal-{by_tier['medium']}",
    }
    assert "Approved by *lead*" in decided_lines(edit["blocks"])
    assert "token rotated in the vault" in decided_lines(edit["blocks"])
    reject(
        store,
        by_tier["medium"],
        "lead",
        "re-running cannot help",
        directory=LEAD,
        now_us=AT_US + 120_000_000,
    )
    assert notifier.sync().updated == [incident]
    last = fake.of("chat.update")[-1]
    assert actions(last["blocks"]) == {f"proposal-{by_tier['low']}"}
    assert "Rejected by *lead*" in decided_lines(last["blocks"])
    assert get_proposal(store, by_tier["medium"]).status == "rejected"
    assert len(fake.of("chat.postMessage")) == 1


def test_without_a_channel_the_incident_is_skipped_and_nothing_is_claimed(
    store: Store, fake: FakeSlack, incident: int
) -> None:
    settings = settings_for(fake, FLOWSLEUTH_SLACK_CHANNELS="", FLOWSLEUTH_SLACK_DEFAULT_CHANNEL="")
    report = notifier_for(store, fake, settings).sync()
    assert list(report.skipped) == [incident]
    assert "FLOWSLEUTH_SLACK_CHANNELS" in report.skipped[incident]
    assert OWNER in report.skipped[incident]
    assert fake.calls == [] and rows(store) == []


def test_a_refused_post_releases_the_claim_and_the_next_sync_posts_once(
    store: Store, fake: FakeSlack, incident: int
) -> None:
    notifier = notifier_for(store, fake)
    fake.failing["chat.postMessage"] = "channel_not_found"
    report = notifier.sync()
    assert report.failed == {incident: "channel_not_found"} and not report.posted
    assert rows(store) == [], "a failed post must not leave a claim that blocks the retry"
    del fake.failing["chat.postMessage"]
    assert notifier.sync().posted == [incident]
    assert notifier.sync().unchanged == [incident]
    assert len(fake.of("chat.postMessage")) == 2  # the refused one, then the one that landed
    assert [r.ref for r in rows(store)] != [""]


def test_an_unreachable_slack_is_a_failure_of_that_sync_not_a_crash(
    store: Store, fake: FakeSlack, incident: int
) -> None:
    with serve_fake_slack() as gone:
        closed = gone.api_url
    notifier = IncidentNotifier(store, client_for(closed), settings_for(fake), clock=lambda: AT_US)
    report = notifier.sync()
    assert list(report.failed) == [incident] and "not reachable" in report.failed[incident]
    assert rows(store) == []
    assert notifier_for(store, fake).sync().posted == [incident]


def test_two_notifiers_racing_post_the_incident_once(
    store: Store, db_url: str, fake: FakeSlack, incident: int
) -> None:
    both_looked = threading.Barrier(2, timeout=30)

    class Racing(IncidentNotifier):
        def _claim(self, incident_id: int, channel: str, status: str, now: int) -> bool:
            # Both have read "no message yet" by now: the insert alone decides.
            both_looked.wait()
            return super()._claim(incident_id, channel, status, now)

    second = open_store(db_url)  # another server process: its own engine and pool
    reports: list[SyncReport] = []
    errors: list[BaseException] = []

    def run(s: Store) -> None:
        try:
            notifier = Racing(s, client_for(fake.api_url), settings_for(fake), clock=lambda: AT_US)
            reports.append(notifier.sync())
        except BaseException as exc:
            errors.append(exc)
            both_looked.abort()

    try:
        threads = [threading.Thread(target=run, args=(s,)) for s in (store, second)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        second.dispose()
    assert errors == []
    assert sorted(r.posted for r in reports) == [[], [incident]]
    assert sorted(r.unchanged for r in reports) == [[], [incident]]
    [posted] = fake.of("chat.postMessage")
    [row] = rows(store)
    assert row.ref and row.channel == posted["channel"] == OWNER_CHANNEL


def test_a_claim_left_by_a_dead_process_is_taken_over_once_stale(
    store: Store, fake: FakeSlack, incident: int
) -> None:
    with store.write() as conn:
        conn.execute(
            insert(NotificationRow).values(
                provider=PROVIDER,
                incident_id=incident,
                channel=OWNER_CHANNEL,
                ref="",
                digest="",
                status="open",
                created_at=AT_US,
                updated_at=AT_US,
            )
        )
    now = [AT_US + STALE_CLAIM_US // 2]
    notifier = notifier_for(store, fake, clock=lambda: now[0])
    assert notifier.sync().unchanged == [incident], "another process may be posting it"
    assert fake.calls == []
    now[0] = AT_US + STALE_CLAIM_US + 1
    assert notifier.sync().posted == [incident]
    assert len(fake.of("chat.postMessage")) == 1 and rows(store)[0].ref


def test_an_incident_resolved_before_it_was_announced_is_never_posted(
    store: Store, fake: FakeSlack, incident: int
) -> None:
    resolve_everything(store, AT_US + HOUR_US)
    notifier = notifier_for(store, fake, clock=lambda: AT_US + HOUR_US)
    assert quiet(notifier.sync())
    assert notifier.sync_one(incident) == "resolved before it was announced"
    assert fake.calls == [] and rows(store) == []


def test_edits_go_to_the_channel_id_slack_answered_with(
    store: Store, fake: FakeSlack, incident: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A channel configured by name (or a user id, which opens a DM): Slack posts there
    # and answers with the channel id, the only form chat.update accepts.
    answer = fake.handle

    def by_id(method: str, args: dict[str, Any]) -> dict[str, Any]:
        reply = answer(method, args)
        if method == "chat.postMessage" and reply.get("ok"):
            reply["channel"] = "C0DATAINC"
        if method == "chat.update" and args.get("channel") != "C0DATAINC":
            reply = {"ok": False, "error": "channel_not_found"}
        return reply

    monkeypatch.setattr(fake, "handle", by_id)
    settings = settings_for(
        fake, FLOWSLEUTH_SLACK_CHANNELS="", FLOWSLEUTH_SLACK_DEFAULT_CHANNEL="#data-incidents"
    )
    notifier = notifier_for(store, fake, settings)
    assert notifier.sync().posted == [incident]
    assert fake.of("chat.postMessage")[0]["channel"] == "#data-incidents"
    resolve_everything(store, AT_US + HOUR_US)
    report = notifier.sync()
    assert report.updated == [incident] and not report.failed
    assert [a["channel"] for a in fake.of("chat.update")] == ["C0DATAINC"]
