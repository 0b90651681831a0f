"""Signed requests against the Bolt app inside ``create_web_app``, over loopback HTTP,
with a fake Slack Web API recording what the app says back."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
import pytest
from slack_sdk import WebClient
from sqlalchemy import select

from agent.graph.build import build_graph
from agent.graph.checkpoint import open_checkpointer
from agent.graph.run import thread_config
from agent.slack.app import WORKERS
from agent.slack.blocks import APPROVE, REJECT
from agent.slack.notifier import IncidentNotifier
from tests.agent.slack.conftest import CHANNEL, World, slack_settings
from tests.agent.slack.fake_slack import (
    block_action,
    mention_event,
    reason_submission,
    signed_headers,
    slash_command,
)
from tests.helpers.simstore import AT_US
from tools.runbooks import expire_stale, get_proposal, reject
from tools.runbooks.audit import list_audit
from tools.runbooks.roles import ApproverDirectory, UserEntry
from tools.store.models_notifications import NotificationRow

EVENTS = "/slack/events"


def _high(world: World) -> int:
    """The awaited proposal that needs a data-lead (refresh the vendor credential)."""
    for pid in world.awaiting:
        if get_proposal(world.store, pid).tier == "high":
            return pid
    raise AssertionError("the scenario should await a high-tier proposal")


def _incident_message(world: World) -> dict[str, Any]:
    [posted] = world.slack.wait_for(
        "chat.postMessage", where=lambda a: a.get("blocks") and not a.get("thread_ts")
    )
    return posted


def _decisions(world: World, pid: int) -> int:
    with open_checkpointer(world.store) as saver:
        state = build_graph(saver).get_state(thread_config(world.incident_id)).values
    return [d["proposal_id"] for d in state.get("decisions", [])].count(pid)


def _text(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks)


def test_the_incident_message_is_posted_once_with_buttons(world: World) -> None:
    posted = _incident_message(world)
    assert posted["channel"] == CHANNEL
    assert f"Incident #{world.incident_id}" in posted["text"]
    actions = [b for b in posted["blocks"] if b["type"] == "actions"]
    assert {b["block_id"] for b in actions} == {f"proposal-{p}" for p in world.awaiting}
    assert "flowsleuth.example.com/ui/incidents/" in _text(posted["blocks"])
    # A later sync with nothing changed edits nothing.
    report = _surface_sync(world)
    assert report == ([], [])


def _surface_sync(world: World) -> tuple[list[int], list[int]]:
    notifier = IncidentNotifier(
        world.store,
        WebClient(token="xoxb-test", base_url=world.slack.api_url),
        slack_settings(world.slack),
    )
    report = notifier.sync()
    return report.posted, report.updated


def test_a_double_click_approves_once_and_resumes_the_agent_once(world: World) -> None:
    _incident_message(world)
    pid = _high(world)
    ts = posted_ts(world)  # the click comes from the incident message itself
    body = block_action(APPROVE, pid, user="U0LEAD", channel=CHANNEL, message_ts=ts)
    results: list[int] = []

    def click() -> None:
        results.append(world.post(EVENTS, body).status_code)

    clicks = [threading.Thread(target=click) for _ in range(2)]
    for t in clicks:
        t.start()
    for t in clicks:
        t.join()
    assert results == [200, 200]
    said = world.slack.wait_for(
        "chat.postMessage", where=lambda a: f"approved proposal #{pid}" in str(a.get("text"))
    )
    told = world.slack.wait_for(
        "chat.postEphemeral", where=lambda a: "already decided" in str(a.get("text"))
    )
    assert len(said) == 1 and len(told) == 1
    assert said[0]["thread_ts"] == ts
    proposal = get_proposal(world.store, pid)
    assert proposal.decided_by == "lead" and proposal.status != "proposed"
    approvals = [e for e in list_audit(world.store, proposal_id=pid) if e.event == "approved"]
    assert len(approvals) == 1
    assert _decisions(world, pid) == 1
    # The credential refresh reached the remediation API exactly once.
    refreshes = [c for c in world.api.writes() if "credential" in c.path]
    assert len(refreshes) == 1, [c.path for c in world.api.writes()]
    # The incident message was edited in place: same ts, decision shown, no buttons for it.
    # (The losing click refreshes the message too, so there may be an edit in between.)
    updates = world.slack.wait_for(
        "chat.update", where=lambda a: "Result" in _text(a["blocks"])
    )
    assert updates, world.slack.of("chat.update")
    assert {(u["ts"], u["channel"]) for u in world.slack.of("chat.update")} == {(ts, CHANNEL)}
    update = world.slack.of("chat.update")[-1]
    assert f"proposal-{pid}" not in {b.get("block_id") for b in update["blocks"]}
    assert "by *lead*" in _text(update["blocks"])


def posted_ts(world: World) -> str:
    """The incident message's ts, once the notifier has stored it (it stores it after
    Slack answered the post, a moment after the fake recorded the call)."""
    deadline = time.monotonic() + 20
    while True:
        with world.store.read() as conn:
            ref = conn.execute(
                select(NotificationRow.ref).where(
                    NotificationRow.incident_id == world.incident_id
                )
            ).scalar_one_or_none()
        if ref or time.monotonic() > deadline:
            assert ref, "the incident message was never stored"
            return str(ref)
        time.sleep(0.02)


def test_the_click_is_acknowledged_before_the_work_is_done(world: World) -> None:
    _incident_message(world)
    pid = _high(world)
    world.gate.clear()  # the listener will block when it asks for executors
    try:
        resp = world.post(EVENTS, block_action(APPROVE, pid, user="U0LEAD", channel=CHANNEL))
        assert resp.status_code == 200
        # Acknowledged, decided (the claim happens before executors are needed), but the
        # agent has not resumed: nothing applied, no reply yet.
        assert world.slack.of("chat.update") == []
        assert not [c for c in world.api.writes() if "credential" in c.path]
    finally:
        world.gate.set()
    said = world.slack.wait_for(
        "chat.postMessage", where=lambda a: f"approved proposal #{pid}" in str(a.get("text"))
    )
    assert len(said) == 1


def test_a_user_without_the_role_is_refused(world: World) -> None:
    _incident_message(world)
    pid = _high(world)
    resp = world.post(EVENTS, block_action(APPROVE, pid, user="U0ENG", channel=CHANNEL))
    assert resp.status_code == 200
    [told] = world.slack.wait_for("chat.postEphemeral")
    assert told["user"] == "U0ENG" and "Refused" in told["text"] and "data-lead" in told["text"]
    assert get_proposal(world.store, pid).status == "proposed"
    assert _decisions(world, pid) == 0


def test_an_unmapped_slack_user_decides_nothing(world: World) -> None:
    _incident_message(world)
    pid = _high(world)
    resp = world.post(EVENTS, block_action(REJECT, pid, user="U0STRANGER", channel=CHANNEL))
    assert resp.status_code == 200
    [told] = world.slack.wait_for("chat.postEphemeral")
    assert "not mapped" in told["text"]
    assert get_proposal(world.store, pid).status == "proposed"
    refused = [e for e in list_audit(world.store, proposal_id=pid) if e.event.endswith("refused")]
    assert [e.actor for e in refused] == ["slack:U0STRANGER"]


def test_a_bad_signature_is_refused_with_401(world: World) -> None:
    _incident_message(world)
    pid = _high(world)
    body = block_action(APPROVE, pid, user="U0LEAD", channel=CHANNEL)
    resp = world.post(EVENTS, body, secret="not-the-secret")
    assert resp.status_code == 401
    unsigned = httpx.post(
        f"{world.url}{EVENTS}",
        content=body,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert unsigned.status_code == 401
    time.sleep(0.5)  # a listener, had one run, would have replied by now
    assert world.slack.of("chat.postEphemeral") == []
    assert get_proposal(world.store, pid).status == "proposed"


def test_a_stale_timestamp_is_refused_with_401(world: World) -> None:
    _incident_message(world)
    pid = _high(world)
    body = block_action(APPROVE, pid, user="U0LEAD", channel=CHANNEL)
    # Correctly signed, but six minutes old: a replayed request.
    resp = world.post(EVENTS, body, timestamp=int(time.time()) - 360)
    assert resp.status_code == 401
    assert get_proposal(world.store, pid).status == "proposed"


def test_a_mention_is_answered_in_its_thread_once(world: World) -> None:
    _incident_message(world)
    event = mention_event("why did the braze sync fail?", event_id="Ev1", ts="1700000200.0001")
    for _ in range(2):  # Slack retries a delivery it thinks was lost
        resp = world.post(EVENTS, event, content_type="application/json")
        assert resp.status_code == 200
    world.slack.wait_for(
        "chat.postMessage", where=lambda a: a.get("thread_ts") == "1700000200.0001"
    )
    time.sleep(0.3)  # room for a second, duplicate answer to arrive, were there one
    replies = [
        a for a in world.slack.of("chat.postMessage") if a.get("thread_ts") == "1700000200.0001"
    ]
    assert len(replies) == 1
    text = replies[0]["text"]
    assert f"Incident #{world.incident_id}" in text
    assert "no LLM is configured" in text
    # The paused investigation's own explanation is part of the answer.
    assert "The investigation's explanation" in text and "What we know" in text


def test_the_slash_command_answers_in_a_thread(world: World) -> None:
    _incident_message(world)
    body = slash_command("incidents", response_url=f"{world.slack.url}/respond/1", channel="C9")
    resp = world.post(EVENTS, body)
    assert resp.status_code == 200
    [parent] = world.slack.wait_for(
        "chat.postMessage", where=lambda a: "asked: incidents" in str(a.get("text"))
    )
    assert parent["channel"] == "C9"
    [reply] = world.slack.wait_for(
        "chat.postMessage", where=lambda a: a.get("channel") == "C9" and a.get("thread_ts")
    )
    assert "1 open incident" in reply["text"] and f"#{world.incident_id}" in reply["text"]


def test_the_slash_command_falls_back_to_response_url(world: World) -> None:
    _incident_message(world)
    world.slack.not_in_channel.add("C9")
    body = slash_command("approvals", response_url=f"{world.slack.url}/respond/7", channel="C9")
    assert world.post(EVENTS, body).status_code == 200
    [responded] = world.slack.wait_for("respond")
    assert "waiting for a decision" in responded["text"]


def test_help_is_the_acknowledgement_itself(world: World) -> None:
    body = slash_command("help", response_url=f"{world.slack.url}/respond/2")
    resp = world.post(EVENTS, body)
    assert resp.status_code == 200
    assert "incidents" in resp.json()["text"]


def test_acknowledgements_do_not_wait_for_busy_listeners(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bolt acks on its own small thread pool; work stuck behind it must not make Slack
    see a failed request (Bolt answers 404 when no thread acks within 3 s)."""
    release = threading.Event()
    started: list[str] = []

    def slow_answer(store: Any, question: str, **_: Any) -> str:
        started.append(question)
        assert release.wait(30)
        return f"answer to {question}"

    monkeypatch.setattr("agent.slack.app.answer", slow_answer)
    try:
        # Mentions are acknowledged by Bolt before their listener runs; their slow
        # answers then occupy the threads that run listeners.
        for i in range(8):
            event = mention_event(f"q{i}", event_id=f"EvBusy{i}", ts=f"1700000300.{i:04d}")
            assert world.post(EVENTS, event, content_type="application/json").status_code == 200
        deadline = time.monotonic() + 10
        while len(started) < WORKERS and time.monotonic() < deadline:
            time.sleep(0.02)
        # A click and a command ack from inside their listener: they need a free thread.
        click = world.post(EVENTS, block_action(REJECT, _high(world), user="U0STRANGER"))
        command = world.post(EVENTS, slash_command("incidents", response_url=world.slack.url))
        assert (click.status_code, command.status_code) == (200, 200)
    finally:
        release.set()
    answered = world.slack.wait_for(
        "chat.postMessage", count=9, where=lambda a: str(a.get("text")).startswith("answer to")
    )
    assert len(answered) == 9  # eight mentions and the command, in threads


def test_replies_quote_telemetry_without_live_links(world: World) -> None:
    resp = world.post(EVENTS, slash_command("help", response_url=f"{world.slack.url}/r/1"))
    assert resp.status_code == 200
    event = mention_event("incidents", event_id="EvLinks", ts="1700000400.0001")
    world.post(EVENTS, event, content_type="application/json")
    [reply] = world.slack.wait_for(
        "chat.postMessage", where=lambda a: a.get("thread_ts") == "1700000400.0001"
    )
    texts = [b["text"] for b in reply["blocks"] if b["type"] == "section"]
    assert texts and all(t["verbatim"] is True for t in texts)
    assert reply.get("unfurl_links") in (False, "false", "0", 0)


def test_a_retry_of_a_delivery_that_timed_out_is_not_answered_twice(world: World) -> None:
    event = mention_event("incidents", event_id="EvRetry", ts="1700000500.0001")
    headers = signed_headers(event, content_type="application/json")
    headers |= {"x-slack-retry-num": "1", "x-slack-retry-reason": "http_timeout"}
    resp = httpx.post(f"{world.url}{EVENTS}", content=event, headers=headers)
    assert resp.status_code == 200
    time.sleep(0.5)  # room for an answer to arrive, were one sent
    assert not [
        a for a in world.slack.of("chat.postMessage") if a.get("thread_ts") == "1700000500.0001"
    ]


def test_a_click_on_an_expired_proposal_says_so_and_clears_the_buttons(world: World) -> None:
    _incident_message(world)
    pid = _high(world)
    ts = posted_ts(world)
    expire_stale(world.store, AT_US + 10 * 86_400_000_000)
    resp = world.post(EVENTS, block_action(APPROVE, pid, user="U0LEAD", message_ts=ts))
    assert resp.status_code == 200
    [told] = world.slack.wait_for("chat.postEphemeral")
    assert "expired before anyone decided" in told["text"]
    [update] = world.slack.wait_for("chat.update")
    assert f"proposal-{pid}" not in {b.get("block_id") for b in update["blocks"]}
    assert get_proposal(world.store, pid).status == "expired"


def test_a_body_that_is_not_utf8_is_a_400_not_a_crash(world: World) -> None:
    resp = httpx.post(f"{world.url}{EVENTS}", content=b"\xff\xfe\xfd")
    assert resp.status_code == 400


def test_a_decision_made_elsewhere_shows_in_slack_without_waiting_for_the_interval(
    world: World,
) -> None:
    """The web queue and the CLI decide through the same engine; the sync loop (interval
    an hour here) wakes on the decision and edits the message."""
    _incident_message(world)
    pid = _high(world)
    directory = ApproverDirectory({"lead": UserEntry(roles=["data-lead"])})
    reject(world.store, pid, "lead", "not now", directory=directory, now_us=AT_US)
    updates = world.slack.wait_for("chat.update", where=lambda a: "not now" in _text(a["blocks"]))
    assert updates, "the message was not edited after the decision"


def test_reject_asks_why_and_the_answer_is_the_recorded_reason(world: World) -> None:
    _incident_message(world)
    pid = _high(world)
    ts = posted_ts(world)
    resp = world.post(EVENTS, block_action(REJECT, pid, user="U0LEAD", message_ts=ts))
    assert resp.status_code == 200
    [opened] = world.slack.wait_for("views.open")
    assert opened["trigger_id"] == "1.2.3"
    view = opened["view"]
    assert get_proposal(world.store, pid).status == "proposed"  # nothing decided yet
    # An empty reason keeps the dialog open with an error on the field.
    empty = world.post(EVENTS, reason_submission(view, "  ", user="U0LEAD"))
    assert empty.status_code == 200 and empty.json()["response_action"] == "errors"
    assert get_proposal(world.store, pid).status == "proposed"
    done = world.post(EVENTS, reason_submission(view, "vendor <!here> says wait", user="U0LEAD"))
    assert done.status_code == 200 and not done.content  # an empty 200 closes the dialog
    said = world.slack.wait_for(
        "chat.postMessage", where=lambda a: f"rejected proposal #{pid}" in str(a.get("text"))
    )
    assert len(said) == 1 and said[0]["thread_ts"] == ts
    proposal = get_proposal(world.store, pid)
    assert proposal.status == "rejected" and proposal.decided_by == "lead"
    assert proposal.reason == "vendor <!here> says wait (via Slack)"
    assert _decisions(world, pid) == 1
    # The reason is shown, escaped, in the edited incident message.
    edited = world.slack.wait_for("chat.update", where=lambda a: "says wait" in _text(a["blocks"]))
    assert edited and "&lt;!here&gt;" in _text(edited[-1]["blocks"])


def test_a_stranger_gets_no_dialog(world: World) -> None:
    _incident_message(world)
    pid = _high(world)
    world.post(EVENTS, block_action(REJECT, pid, user="U0STRANGER"))
    [told] = world.slack.wait_for("chat.postEphemeral")
    assert "not mapped" in told["text"] and world.slack.of("views.open") == []
