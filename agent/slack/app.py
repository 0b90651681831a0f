"""The Slack app (slack-bolt): approve/reject buttons, mentions, ``/flowsleuth``.

Every listener acknowledges first (Slack wants an answer within 3 s) and hands the work
to a pool of its own, so Bolt's threads are always free for the next acknowledgement.
Decisions go through the runbook engine exactly as the web queue's do: the Slack user is
mapped to a flowsleuth user whose roles the engine checks, the engine's status claim lets
one click win, and only the winning click resumes the investigation. Request signatures
(HTTP mode) are checked by Bolt with Slack's 5-minute timestamp tolerance; a bad or stale
signature is a 401 before any listener runs.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel
from slack_bolt import App, BoltRequest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from agent.slack.answers import answer
from agent.slack.blocks import APPROVE, REJECT, escape, text_blocks
from agent.slack.notifier import IncidentNotifier, web_client
from agent.slack.settings import SlackSettings
from tools.runbooks import Decision, NotAllowedError, UnknownProposalError, approve, reject
from tools.runbooks.audit import record as record_audit
from tools.runbooks.executors import ExecutorRegistry
from tools.runbooks.roles import ApproverDirectory, DirectoryError
from tools.store.db import Store
from tools.store.models import now_micros

log = logging.getLogger(__name__)

WORKERS = 4
REASON_DIALOG = "flowsleuth_reject_reason"
# Replies quote telemetry: no link previews fetched from URLs in it.
QUIET: dict[str, Any] = {"unfurl_links": False, "unfurl_media": False}
MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")
SEEN_EVENTS = 2_000  # Slack retries deliveries; remember this many event ids to skip them


class SlackSurface:
    """The Bolt app plus what its listeners need; build it with :func:`build_slack`."""

    def __init__(
        self,
        store: Store,
        settings: SlackSettings,
        *,
        directory: ApproverDirectory,
        executors: Callable[[], ExecutorRegistry],
        clock: Callable[[], int] = now_micros,
        model: BaseChatModel | None = None,
        client: WebClient | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.directory = directory
        self.executors = executors
        self.clock = clock
        self.model = model
        self.client = client or web_client(settings)
        self.notifier = IncidentNotifier(store, self.client, settings, clock=clock)
        secret = settings.signing_secret.get_secret_value() if settings.signing_secret else None
        self.app = App(
            client=self.client,
            signing_secret=secret,
            # Without a signing secret the app only runs over Socket Mode, whose
            # connection is authenticated by the app-level token instead.
            request_verification_enabled=secret is not None,
            # auth.test would run at construction, i.e. at every server start.
            token_verification_enabled=False,
            process_before_response=False,
        )
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._seen_lock = threading.Lock()
        # The slow part of every listener (resume and apply, LLM answers) runs here, not on
        # Bolt's listener threads: those also run the next requests' ack(), and Bolt
        # answers 404 to Slack when no thread is free to ack within 3 s.
        self.work = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="slack-work")
        self._register()

    def close(self) -> None:
        """Finish the work already started (an apply is never cut off midway) and drop
        what has not started."""
        self.work.shutdown(wait=True, cancel_futures=True)

    def _later(self, what: str, fn: Callable[..., None], *args: Any) -> None:
        def run() -> None:
            try:
                fn(*args)
            except Exception:  # a listener's failure must not vanish into a pool
                log.exception("slack: %s failed", what)

        try:
            self.work.submit(run)
        except RuntimeError:  # shutting down: the request was acknowledged, say so in the log
            log.warning("slack: %s dropped, the server is stopping", what)

    # -- listeners -------------------------------------------------------------------

    def _register(self) -> None:
        app = self.app

        @app.action(APPROVE)
        def _approve(ack: Callable[..., Any], body: dict[str, Any]) -> None:
            ack()
            self._later("approving", self.decide, body, "approved")

        @app.action(REJECT)
        def _reject(ack: Callable[..., Any], body: dict[str, Any]) -> None:
            ack()
            self.ask_reason(body)

        @app.view(REASON_DIALOG)
        def _reason(ack: Callable[..., Any], body: dict[str, Any], view: dict[str, Any]) -> None:
            reason = dialog_reason(view)
            if not reason:
                ack(response_action="errors", errors={"reason": "Say why, for the record."})
                return
            ack()  # closes the dialog
            click = Click.from_dialog(view, str(body["user"]["id"]))
            if click.proposal_id is not None:
                self._later("rejecting", self.decide_for, click, "rejected", reason)

        @app.event("app_mention")
        def _mention(event: dict[str, Any], body: dict[str, Any], request: BoltRequest) -> None:
            # Slack retries a delivery it timed out on although it reached us; we took
            # it the first time. Other retries (errors, restarts) may be new to us.
            if retry_of_a_delivery_we_took(request.headers):
                return
            if event.get("bot_id") or self._repeat(str(body.get("event_id") or "")):
                return
            question = MENTION.sub("", str(event.get("text") or "")).strip()
            thread = str(event.get("thread_ts") or event["ts"])
            self._later("answering a mention", self.reply, str(event["channel"]), question, thread)

        @app.command("/flowsleuth")
        def _command(
            ack: Callable[..., Any], command: dict[str, Any], respond: Callable[..., Any]
        ) -> None:
            question = str(command.get("text") or "").strip()
            if not question or question.lower() == "help":
                ack(text=self._answer("help"), response_type="ephemeral")
                return
            ack()
            self._later("answering /flowsleuth", self.ask_in_thread, command, question, respond)

        @app.event("message")
        def _ignore_messages() -> None:
            """Channel chatter is not addressed to flowsleuth (mentions are)."""

    # -- decisions -------------------------------------------------------------------

    def decide(self, body: dict[str, Any], outcome: str, reason: str | None = None) -> None:
        """One button click: decide through the engine, resume the investigation if this
        click won, then edit the incident message and say what happened."""
        click = Click.of(body)
        if click.proposal_id is None:
            self._ephemeral(click.channel, click.user, "That button carries no proposal id.")
            return
        self.decide_for(click, outcome, reason)

    def ask_reason(self, body: dict[str, Any]) -> None:
        """Reject asks why first (a dialog); the dialog's submission decides. The dialog
        must open within 3 s of the click (its trigger expires), so this runs in the
        listener, right after the acknowledgement."""
        click = Click.of(body)
        if click.proposal_id is None or self.settings.user_for(click.user) is None:
            self._later("rejecting", self.decide, body, "rejected")  # refused there, audited
            return
        try:
            self.client.views_open(
                trigger_id=str(body.get("trigger_id") or ""),
                view=reason_dialog(click),
            )
        except (SlackApiError, OSError) as exc:
            log.warning("slack: no reason dialog (%s); rejecting without a reason", exc)
            self._later("rejecting", self.decide, body, "rejected")

    def decide_for(self, click: Click, outcome: str, reason: str | None) -> None:
        slack_user, channel, message_ts = click.user, click.channel, click.message_ts
        proposal_id = click.proposal_id
        assert proposal_id is not None
        user = self.settings.user_for(slack_user)
        if user is None:
            record_audit(
                self.store,
                actor=f"slack:{slack_user}",
                event="approval_refused" if outcome == "approved" else "rejection_refused",
                rationale="Slack user is not mapped to a flowsleuth user (FLOWSLEUTH_SLACK_USERS)",
                payload={"attempted": outcome, "via": "slack"},
                proposal_id=proposal_id,
                at_us=self.clock(),
            )
            self._ephemeral(
                channel,
                slack_user,
                "Your Slack account is not mapped to a flowsleuth user, so you cannot decide "
                f"proposal #{proposal_id}. Nothing was changed.",
            )
            return
        act = approve if outcome == "approved" else reject
        try:
            decision = act(
                self.store,
                proposal_id,
                user,
                f"{reason} (via Slack)" if reason else f"via Slack by {user}",
                directory=self.directory,
                now_us=self.clock(),
            )
        except NotAllowedError as exc:
            self._ephemeral(channel, slack_user, f"Refused: {escape(str(exc))}")
            return
        except (UnknownProposalError, DirectoryError) as exc:
            self._ephemeral(channel, slack_user, escape(str(exc)))
            return
        if not decision.won:
            if decision.outcome == "expired":
                told = f"Proposal #{proposal_id} expired before anyone decided it."
            else:
                told = (
                    f"Proposal #{proposal_id} was already decided: {decision.status} by "
                    f"{escape(decision.decided_by)} at {decision.decided_at}."
                )
            self._ephemeral(channel, slack_user, f"{told} Nothing was changed.")
            self._refresh(decision.incident_id)  # the message still offered the buttons
            return
        said = f"<@{slack_user}> {decision.outcome} proposal #{proposal_id}"
        said += self._resume(decision, user)
        self._refresh(decision.incident_id)
        self._post(channel, said, thread_ts=message_ts or None)

    def _refresh(self, incident_id: int) -> None:
        try:
            self.notifier.sync_one(incident_id)
        except (SlackApiError, OSError) as exc:  # the decision stands; the loop retries
            log.warning("slack: incident %s message not updated: %s", incident_id, exc)

    def _resume(self, decision: Decision, user: str) -> str:
        # Imported here: LangGraph takes a while to load and only decisions need it.
        from agent.approvals import ResumeError, settle_decision

        try:
            applied = settle_decision(
                self.store, decision, self.executors, actor=user, now_us=self.clock()
            )
        except ResumeError as exc:
            return f"; the investigation was not resumed: {escape(str(exc))}"
        except Exception as exc:  # the decision stands; say that applying it failed
            log.exception("slack: applying proposal %s failed", decision.proposal_id)
            return f"; applying it failed: {escape(str(exc))}"
        if applied is None:
            return "."
        return f": {escape(applied.status)} — {escape(applied.message)}"

    # -- questions -------------------------------------------------------------------

    def ask_in_thread(
        self, command: dict[str, Any], question: str, respond: Callable[..., Any]
    ) -> None:
        """Post the question where it was asked and the answer in its thread; where the
        bot may not post (not in the channel), answer through the command's response_url."""
        reply = self._answer(question)
        channel = str(command.get("channel_id") or "")
        try:
            parent = self.client.chat_postMessage(
                channel=channel,
                text=f"<@{command.get('user_id')}> asked: {escape(question)}",
                blocks=text_blocks(f"<@{command.get('user_id')}> asked: {escape(question)}"),
                **QUIET,
            )
            self.client.chat_postMessage(
                channel=channel, thread_ts=parent["ts"], text=reply, blocks=text_blocks(reply),
                **QUIET,
            )
        except (SlackApiError, OSError) as exc:
            log.info("slack: answering /flowsleuth through response_url: %s", exc)
            respond(text=reply, blocks=text_blocks(reply), response_type="ephemeral")

    def reply(self, channel: str, question: str, thread_ts: str) -> None:
        self._post(channel, self._answer(question), thread_ts=thread_ts)

    def _answer(self, question: str) -> str:
        try:
            return answer(self.store, question, model=self.model, clock=self.clock)
        except Exception as exc:  # a question must get a reply, even about a failure
            log.exception("slack: answering %r failed", question)
            return f"Sorry, that failed: {escape(str(exc))}"

    # -- helpers ---------------------------------------------------------------------

    def _repeat(self, event_id: str) -> bool:
        if not event_id:
            return False
        with self._seen_lock:
            if event_id in self._seen:
                return True
            self._seen[event_id] = None
            while len(self._seen) > SEEN_EVENTS:
                self._seen.popitem(last=False)
        return False

    def _post(self, channel: str, text: str, *, thread_ts: str | None = None) -> None:
        try:
            self.client.chat_postMessage(
                channel=channel, text=text, blocks=text_blocks(text), thread_ts=thread_ts, **QUIET
            )
        except (SlackApiError, OSError) as exc:
            log.warning("slack: could not post to %s: %s", channel, exc)

    def _ephemeral(self, channel: str, user: str, text: str) -> None:
        try:
            self.client.chat_postEphemeral(
                channel=channel, user=user, text=text, blocks=text_blocks(text)
            )
        except (SlackApiError, OSError) as exc:
            log.warning("slack: could not tell %s: %s", user, exc)


@dataclass(frozen=True)
class Click:
    """Who clicked which proposal's button, and on which message."""

    user: str
    channel: str
    message_ts: str
    proposal_id: int | None

    @classmethod
    def of(cls, body: dict[str, Any]) -> Click:
        channel = str(
            (body.get("channel") or {}).get("id")
            or (body.get("container") or {}).get("channel_id")
            or ""
        )
        try:
            proposal_id: int | None = int(body["actions"][0]["value"])
        except (KeyError, IndexError, TypeError, ValueError):
            proposal_id = None
        message_ts = str((body.get("message") or {}).get("ts") or "")
        return cls(str(body["user"]["id"]), channel, message_ts, proposal_id)

    @classmethod
    def from_dialog(cls, view: dict[str, Any], user: str) -> Click:
        try:
            meta = json.loads(str(view.get("private_metadata") or "{}"))
            proposal_id: int | None = int(meta["proposal_id"])
        except (ValueError, KeyError, TypeError):
            meta, proposal_id = {}, None
        return cls(user, str(meta.get("channel") or ""), str(meta.get("ts") or ""), proposal_id)


def reason_dialog(click: Click) -> dict[str, Any]:
    meta = {"proposal_id": click.proposal_id, "channel": click.channel, "ts": click.message_ts}
    return {
        "type": "modal",
        "callback_id": REASON_DIALOG,
        "private_metadata": json.dumps(meta),
        "title": {"type": "plain_text", "text": f"Reject proposal #{click.proposal_id}"},
        "submit": {"type": "plain_text", "text": "Reject"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "input",
                "block_id": "reason",
                "label": {"type": "plain_text", "text": "Why? (kept in the audit log)"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "text",
                    "multiline": True,
                    "max_length": 1000,
                },
            }
        ],
    }


def dialog_reason(view: dict[str, Any]) -> str:
    values = ((view.get("state") or {}).get("values") or {}).get("reason") or {}
    # NUL cannot be stored (PostgreSQL text); nothing a person types needs it.
    return str((values.get("text") or {}).get("value") or "").replace("\x00", "").strip()


def retry_of_a_delivery_we_took(headers: Mapping[str, Any]) -> bool:
    """Slack's retry of a request it timed out on: it reached us, and was acted on."""
    reason = headers.get("x-slack-retry-reason")
    if isinstance(reason, list | tuple):
        reason = reason[0] if reason else None
    return reason == "http_timeout"
