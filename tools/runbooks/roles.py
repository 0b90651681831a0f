"""Who may decide what: users' roles and teams from config, checked in code.

The directory comes from a YAML file (``FLOWSLEUTH_APPROVALS_APPROVERS_FILE``)::

    users:
      alice: {roles: [data-lead], teams: [lifecycle-marketing]}
      bob:   {roles: [data-engineer]}

and/or ``FLOWSLEUTH_APPROVALS_USERS`` / ``..._TEAMS`` (JSON objects user -> list). Which
roles may approve which tier is policy (``FLOWSLEUTH_POLICY_TIER_ROLES``); a member of
an owning team may also approve the tiers in ``owner_may_approve``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from tools.runbooks.policy import Tier
from tools.timeutil import parse_duration_us


class ApprovalSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FLOWSLEUTH_APPROVALS_", extra="ignore")

    ttl: str = Field("24h", description="How long a proposal waits before it expires")
    approvers_file: Path | None = Field(None, description="YAML file of users, roles, teams")
    users: dict[str, list[str]] = Field(default_factory=dict, description="user -> roles")
    teams: dict[str, list[str]] = Field(default_factory=dict, description="user -> teams")
    owner_may_approve: list[Tier] = Field(
        default_factory=lambda: list[Tier](["low", "medium"]),
        description="Tiers a member of an owning team may approve without an approver role",
    )
    no_self_approval: list[Tier] = Field(
        default_factory=lambda: list[Tier](["high"]),
        description="Tiers whose requester may not approve their own proposal",
    )
    auto_actor: str = Field("policy:auto", description="Who auto-applied low-risk actions")

    @property
    def ttl_us(self) -> int:
        return parse_duration_us(self.ttl)


class UserEntry(BaseModel):
    roles: list[str] = Field(default_factory=list)
    teams: list[str] = Field(default_factory=list)


class DirectoryFile(BaseModel):
    users: dict[str, UserEntry] = Field(default_factory=dict)


class DirectoryError(ValueError):
    pass


class ApproverDirectory:
    def __init__(self, users: dict[str, UserEntry] | None = None) -> None:
        self.users = dict(users or {})

    @classmethod
    def from_settings(cls, settings: ApprovalSettings) -> ApproverDirectory:
        users: dict[str, UserEntry] = {}
        if settings.approvers_file is not None:
            users = _read_file(settings.approvers_file)
        for user, roles in settings.users.items():
            entry = users.setdefault(user, UserEntry())
            entry.roles = sorted({*entry.roles, *roles})
        for user, teams in settings.teams.items():
            entry = users.setdefault(user, UserEntry())
            entry.teams = sorted({*entry.teams, *teams})
        return cls(users)

    def merged(self, other: ApproverDirectory) -> ApproverDirectory:
        """Both directories' users; a user in both has the union of roles and teams."""
        users = {name: entry.model_copy(deep=True) for name, entry in self.users.items()}
        for name, entry in other.users.items():
            mine = users.setdefault(name, UserEntry())
            mine.roles = sorted({*mine.roles, *entry.roles})
            mine.teams = sorted({*mine.teams, *entry.teams})
        return ApproverDirectory(users)

    def roles_of(self, user: str) -> list[str]:
        entry = self.users.get(user)
        return list(entry.roles) if entry else []

    def teams_of(self, user: str) -> list[str]:
        entry = self.users.get(user)
        return list(entry.teams) if entry else []


def _read_file(path: Path) -> dict[str, UserEntry]:
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise DirectoryError(f"approvers file {path}: no such file") from None
    except (OSError, yaml.YAMLError) as exc:
        raise DirectoryError(f"approvers file {path}: {exc}") from None
    try:
        return DirectoryFile.model_validate(raw).users
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise DirectoryError(f"approvers file {path}: {loc}: {first['msg']}") from None


def refusal(
    user: str,
    *,
    tier: Tier,
    required_roles: list[str],
    requested_by: str,
    owners: list[str],
    directory: ApproverDirectory,
    settings: ApprovalSettings,
    deciding: bool = True,
) -> str | None:
    """Why ``user`` may not decide (approve, or roll back) this proposal; None if they may.

    ``deciding`` False is for undoing or withdrawing, where the self-approval rule does
    not apply (a requester may always pull back their own proposal).
    """
    if not user.strip():
        return "a decision needs a named user"
    if deciding and tier in settings.no_self_approval and user == requested_by:
        return f"{user} requested this {tier}-impact action and cannot approve it themselves"
    roles = directory.roles_of(user)
    if set(roles) & set(required_roles):
        return None
    if tier in settings.owner_may_approve and set(directory.teams_of(user)) & set(owners):
        return None
    if not deciding and user == requested_by:
        return None
    shown = ", ".join(roles) or "none"
    need = ", ".join(required_roles) or "none configured"
    owner_note = (
        f", or membership of an owning team ({', '.join(owners)})"
        if tier in settings.owner_may_approve and owners
        else ""
    )
    return f"{user} has roles [{shown}]; a {tier}-tier action needs one of [{need}]{owner_note}"
