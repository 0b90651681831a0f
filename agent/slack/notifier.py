"""One Slack message per incident, posted once and edited in place from then on.

:meth:`IncidentNotifier.sync` looks at every open incident and at every incident whose
message still shows it open (so a resolution is edited in too), rebuilds its blocks and
edits the message only when they changed. The ``notifications`` row is claimed before
the first post, so two ``flowsleuth serve`` processes never post the same incident twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from agent.slack.blocks import digest, incident_blocks, summary_text
from agent.slack.settings import SlackSettings
from tools.incidents import UnknownIncidentError, get_incident, list_incidents
from tools.runbooks import list_proposals
from tools.store.db import Store
from tools.store.models import now_micros
from tools.store.models_notifications import NotificationRow

log = logging.getLogger(__name__)

PROVIDER = "slack"
# A claim with no message after this long belongs to a process that died mid-post.
STALE_CLAIM_US = 10 * 60 * 1_000_000


def web_client(settings: SlackSettings) -> WebClient:
    """The Slack Web API client for the bot token (raises ValueError without one)."""
    if settings.bot_token is None:
        raise ValueError("the Slack app needs a bot token (FLOWSLEUTH_SLACK_BOT_TOKEN)")
    return WebClient(token=settings.bot_token.get_secret_value(), base_url=settings.api_url)


@dataclass
class SyncReport:
    posted: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)
    skipped: dict[int, str] = field(default_factory=dict)
    failed: dict[int, str] = field(default_factory=dict)


@dataclass
class MessageRef:
    incident_id: int
    channel: str
    ts: str


class IncidentNotifier:
    def __init__(
        self,
        store: Store,
        client: WebClient,
        settings: SlackSettings,
        *,
        clock: Callable[[], int] = now_micros,
    ) -> None:
        self.store = store
        self.client = client
        self.settings = settings
        self.clock = clock
        # The sync loop and a click's listener may edit one incident at the same moment;
        # one at a time, or an edit built from older state could land last.
        self._locks: dict[int, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def sync(self) -> SyncReport:
        report = SyncReport()
        # Most severe first. Each incident is read again under its lock in sync_one, so an
        # edit is never built from state older than what a concurrent click just wrote.
        ids = [i.id for i in list_incidents(self.store, status="open", limit=500)]
        with self.store.read() as conn:
            shown_open = conn.execute(
                select(NotificationRow.incident_id).where(
                    NotificationRow.provider == PROVIDER, NotificationRow.status != "resolved"
                )
            ).scalars()
            ids += [i for i in shown_open if i not in ids]
        for incident_id in ids:
            try:
                outcome = self.sync_one(incident_id)
            except SlackApiError as exc:
                report.failed[incident_id] = str(exc.response.get("error") or exc)
                log.warning("slack: incident %s not synced: %s", incident_id, exc)
                continue
            except OSError as exc:  # Slack unreachable or timing out (URLError, TimeoutError)
                report.failed[incident_id] = f"Slack not reachable: {exc}"
                log.warning("slack: incident %s not synced: %s", incident_id, exc)
                continue
            if outcome == "posted":
                report.posted.append(incident_id)
            elif outcome == "updated":
                report.updated.append(incident_id)
            elif outcome == "unchanged":
                report.unchanged.append(incident_id)
            else:
                report.skipped[incident_id] = outcome
        return report

    def sync_one(self, incident_id: int) -> str:
        """Post or edit one incident's message: "posted", "updated", "unchanged", or the
        reason it was skipped. Slack errors propagate as SlackApiError."""
        with self._locks_guard:
            lock = self._locks.setdefault(incident_id, threading.Lock())
        with lock:
            return self._sync_one(incident_id)

    def _sync_one(self, incident_id: int) -> str:
        try:
            incident = get_incident(self.store, incident_id)
        except UnknownIncidentError:
            return f"incident {incident_id} does not exist"
        proposals = sorted(list_proposals(self.store, incident_id=incident_id), key=lambda p: p.id)
        text = summary_text(incident)
        blocks = incident_blocks(incident, proposals, public_url=self.settings.public_url)
        new_digest = digest(text, blocks)
        row = self._row(incident_id)
        now = self.clock()
        if row is not None and not row.ref and now - row.created_at > STALE_CLAIM_US:
            self._release(incident_id, row.created_at)
            row = None
        if row is None:
            if incident.status == "resolved":
                return "resolved before it was announced"
            channel = self.settings.channel_for(incident.owners)
            if channel is None:
                return (
                    f"no channel for owners {', '.join(incident.owners) or '(none)'}: set "
                    "FLOWSLEUTH_SLACK_CHANNELS or FLOWSLEUTH_SLACK_DEFAULT_CHANNEL"
                )
            if not self._claim(incident_id, channel, incident.status, now):
                return "unchanged"  # another process is posting it right now
            try:
                resp = self.client.chat_postMessage(channel=channel, text=text, blocks=blocks)
            except BaseException:
                self._release(incident_id, now)  # let the next sync try again
                raise
            # Slack answers with the channel's id: chat.update takes only an id, and the
            # setting may be a name ("#data-incidents") or a user (posting opens a DM).
            channel = str(resp.get("channel") or channel)
            self._save(incident_id, str(resp["ts"]), new_digest, incident.status, now, channel)
            return "posted"
        if not row.ref:
            return "unchanged"
        if row.digest == new_digest:
            return "unchanged"
        self.client.chat_update(channel=row.channel, ts=row.ref, text=text, blocks=blocks)
        self._save(incident_id, row.ref, new_digest, incident.status, now)
        return "updated"

    def message_of(self, incident_id: int) -> MessageRef | None:
        row = self._row(incident_id)
        if row is None or not row.ref:
            return None
        return MessageRef(incident_id, row.channel, row.ref)

    # -- the notifications row -------------------------------------------------------

    def _row(self, incident_id: int) -> NotificationRow | None:
        with self.store.read() as conn:
            found = (
                conn.execute(
                    select(NotificationRow).where(
                        NotificationRow.provider == PROVIDER,
                        NotificationRow.incident_id == incident_id,
                    )
                )
                .mappings()
                .first()
            )
        if found is None:
            return None
        return NotificationRow(**dict(found))

    def _claim(self, incident_id: int, channel: str, status: str, now: int) -> bool:
        try:
            with self.store.write() as conn:
                conn.execute(
                    insert(NotificationRow).values(
                        provider=PROVIDER,
                        incident_id=incident_id,
                        channel=channel,
                        ref="",
                        digest="",
                        status=status,
                        created_at=now,
                        updated_at=now,
                    )
                )
        except IntegrityError:
            return False
        return True

    def _release(self, incident_id: int, claimed_at: int) -> None:
        """Drop the claim made at ``claimed_at`` (only that one: another process may have
        taken over a stale claim and be posting under a claim of its own)."""
        with self.store.write() as conn:
            conn.execute(
                delete(NotificationRow).where(
                    NotificationRow.provider == PROVIDER,
                    NotificationRow.incident_id == incident_id,
                    NotificationRow.ref == "",
                    NotificationRow.created_at == claimed_at,
                )
            )

    def _save(
        self,
        incident_id: int,
        ref: str,
        new_digest: str,
        status: str,
        now: int,
        channel: str | None = None,
    ) -> None:
        values: dict[str, object] = {
            "ref": ref,
            "digest": new_digest,
            "status": status,
            "updated_at": now,
        }
        if channel is not None:
            values["channel"] = channel
        with self.store.write() as conn:
            conn.execute(
                update(NotificationRow)
                .where(
                    NotificationRow.provider == PROVIDER,
                    NotificationRow.incident_id == incident_id,
                )
                .values(**values)
            )
