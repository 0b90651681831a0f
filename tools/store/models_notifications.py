"""Where each incident's notification lives in a chat tool, so it is edited, not re-sent.

One row per (provider, incident): the channel and the provider's message reference
(Slack's ``ts``) plus a digest of what was last sent. Inserting the row first, before
posting, is the claim that stops two server processes posting the same incident twice.
"""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from tools.store.models import Base, Micros


class NotificationRow(Base):
    __tablename__ = "notifications"

    provider: Mapped[str] = mapped_column(String(16), primary_key=True)  # e.g. "slack"
    incident_id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(64))
    # Empty until the provider accepted the first post (the row is the posting claim).
    ref: Mapped[str] = mapped_column(String(64), default="")
    digest: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(16))  # incident status last shown
    created_at: Mapped[int] = mapped_column(Micros)
    updated_at: Mapped[int] = mapped_column(Micros)
