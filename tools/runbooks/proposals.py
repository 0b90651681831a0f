"""Proposal records: the typed view of the queue and its exactly-once state transitions."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import Connection, select, update

from tools.runbooks.models import CheckResult, DryRun, PlannedAction, VerificationResult
from tools.store.db import Store
from tools.store.models_runbooks import ProposalRow
from tools.timeutil import iso

Status = Literal[
    "proposed",
    "approved",
    "rejected",
    "expired",
    "applying",
    "applied",
    "failed",
    "rolling_back",
    "rolled_back",
    "rollback_failed",
]
OPEN_STATUSES = ("proposed", "approved", "applying", "applied")


class UnknownProposalError(LookupError):
    def __init__(self, proposal_id: int) -> None:
        self.proposal_id = proposal_id
        super().__init__(f"no proposal {proposal_id}")


class NotAllowedError(PermissionError):
    """The user may not make this decision; the message says why."""


class Proposal(BaseModel):
    id: int
    incident_id: int
    action_key: str
    playbook: str
    action_type: str
    executor: str
    tier: str
    auto_apply_allowed: bool
    status: Status
    plan: PlannedAction
    evidence: dict[str, Any]
    blast_radius: dict[str, Any]
    preconditions: list[CheckResult]
    dry_run: DryRun | None
    rollback_plan: dict[str, Any]
    requested_by: str
    created_at: str
    expires_at: str
    expires_at_us: int
    decided_by: str | None
    decided_at: str | None
    reason: str | None
    applied_at: str | None
    applied_at_us: int | None
    result: dict[str, Any] | None
    prior_state: dict[str, Any] | None
    verification: VerificationResult | None
    rolled_back_by: str | None
    rolled_back_at: str | None

    @property
    def preconditions_ok(self) -> bool:
        return all(c.ok for c in self.preconditions)


def to_proposal(row: Any) -> Proposal:
    """A ``proposals`` row (a RowMapping) as a Proposal."""
    return Proposal(
        id=row["id"],
        incident_id=row["incident_id"],
        action_key=row["action_key"],
        playbook=row["playbook"],
        action_type=row["action_type"],
        executor=row["executor"],
        tier=row["tier"],
        auto_apply_allowed=row["auto_apply_allowed"],
        status=row["status"],
        plan=PlannedAction.model_validate(row["plan"]),
        evidence=row["evidence"] or {},
        blast_radius=row["blast_radius"] or {},
        preconditions=[CheckResult.model_validate(c) for c in row["preconditions"] or []],
        dry_run=DryRun.model_validate(row["dry_run"]) if row["dry_run"] else None,
        rollback_plan=row["rollback_plan"] or {},
        requested_by=row["requested_by"],
        created_at=iso(row["created_at"]) or "",
        expires_at=iso(row["expires_at"]) or "",
        expires_at_us=row["expires_at"],
        decided_by=row["decided_by"],
        decided_at=iso(row["decided_at"]),
        reason=row["reason"],
        applied_at=iso(row["applied_at"]),
        applied_at_us=row["applied_at"],
        result=row["result"],
        prior_state=row["prior_state"],
        verification=(
            VerificationResult.model_validate(row["verification"]) if row["verification"] else None
        ),
        rolled_back_by=row["rolled_back_by"],
        rolled_back_at=iso(row["rolled_back_at"]),
    )


def get_proposal(store: Store, proposal_id: int) -> Proposal:
    with store.read() as conn:
        return read_proposal(conn, proposal_id)


def read_proposal(conn: Connection, proposal_id: int) -> Proposal:
    row = conn.execute(select(ProposalRow).where(ProposalRow.id == proposal_id)).mappings().first()
    if row is None:
        raise UnknownProposalError(proposal_id)
    return to_proposal(row)


def list_proposals(
    store: Store,
    *,
    status: str | None = None,
    incident_id: int | None = None,
    limit: int = 100,
) -> list[Proposal]:
    """Newest first."""
    stmt = select(ProposalRow).order_by(ProposalRow.id.desc()).limit(limit)
    if status:
        stmt = stmt.where(ProposalRow.status == status)
    if incident_id is not None:
        stmt = stmt.where(ProposalRow.incident_id == incident_id)
    with store.read() as conn:
        return [to_proposal(r) for r in conn.execute(stmt).mappings()]


def claim(conn: Connection, proposal_id: int, expected: str, values: dict[str, Any]) -> bool:
    """Move a proposal out of ``expected``; True for exactly one of any concurrent callers.

    PostgreSQL: lock the row with ``FOR UPDATE SKIP LOCKED`` first, so contenders skip
    instead of queueing behind the winner. Both dialects then UPDATE conditionally on the
    status and count the rows changed: the status check is what makes it exactly-once.
    """
    if conn.dialect.name == "postgresql":
        locked = conn.execute(
            select(ProposalRow.id)
            .where(ProposalRow.id == proposal_id, ProposalRow.status == expected)
            .with_for_update(skip_locked=True)
        ).first()
        if locked is None:
            return False
    result = conn.execute(
        update(ProposalRow)
        .where(ProposalRow.id == proposal_id, ProposalRow.status == expected)
        .values(**values)
    )
    return result.rowcount == 1
