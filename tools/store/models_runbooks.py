"""Runbook tables: the approval queue and the hash-chained audit log."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tools.store.models import Base, Micros, NullableJSON


class ProposalRow(Base):
    """One planned action waiting for (or past) a decision.

    status: proposed -> approved | rejected | expired; approved -> applying ->
    applied | failed; applied -> rolling_back -> rolled_back | rollback_failed.
    Every transition is a conditional UPDATE on the expected status, so it happens once.
    """

    __tablename__ = "proposals"
    __table_args__ = (
        Index("ix_proposals_status_expires", "status", "expires_at"),
        Index("ix_proposals_incident", "incident_id"),
        Index("ix_proposals_dedup", "dedup_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Not a foreign key: a context may come from a file before incidents exist.
    incident_id: Mapped[int] = mapped_column(Integer)
    dedup_key: Mapped[str] = mapped_column(String(64))
    action_key: Mapped[str] = mapped_column(String(256))
    playbook: Mapped[str] = mapped_column(String(128))
    action_type: Mapped[str] = mapped_column(String(64))
    executor: Mapped[str] = mapped_column(String(32))
    tier: Mapped[str] = mapped_column(String(8))
    auto_apply_allowed: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16))
    plan: Mapped[dict[str, Any]] = mapped_column(JSON)
    context: Mapped[dict[str, Any]] = mapped_column(JSON)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    blast_radius: Mapped[dict[str, Any]] = mapped_column(JSON)
    preconditions: Mapped[list[Any]] = mapped_column(JSON)
    dry_run: Mapped[dict[str, Any] | None] = mapped_column(NullableJSON, nullable=True)
    rollback_plan: Mapped[dict[str, Any]] = mapped_column(JSON)
    requested_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[int] = mapped_column(Micros)
    updated_at: Mapped[int] = mapped_column(Micros)
    expires_at: Mapped[int] = mapped_column(Micros)
    decided_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    decided_at: Mapped[int | None] = mapped_column(Micros, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    applied_at: Mapped[int | None] = mapped_column(Micros, nullable=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(NullableJSON, nullable=True)
    prior_state: Mapped[dict[str, Any] | None] = mapped_column(NullableJSON, nullable=True)
    verification: Mapped[dict[str, Any] | None] = mapped_column(NullableJSON, nullable=True)
    rolled_back_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    rolled_back_at: Mapped[int | None] = mapped_column(Micros, nullable=True)


class AuditRow(Base):
    """One audited event. ``hash`` = sha256(prev_hash + canonical content): a chain.

    ``seq`` is contiguous and unique, so a deleted row or a forked chain (two rows
    claiming the same predecessor) cannot go unnoticed.
    """

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Micros, unique=True)
    at: Mapped[int] = mapped_column(Micros)
    actor: Mapped[str] = mapped_column(String(128))
    event: Mapped[str] = mapped_column(String(32))
    proposal_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    incident_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    rationale: Mapped[str] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(Text)  # canonical JSON, hashed as stored
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
