"""Who may decide: roles and teams from a YAML file and the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.runbooks.roles import ApprovalSettings, ApproverDirectory, DirectoryError, refusal


def test_directory_merges_file_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "approvers.yaml"
    path.write_text(
        "users:\n  alice: {roles: [data-lead], teams: [crm]}\n  bob: {roles: [operator]}\n"
    )
    monkeypatch.setenv("FLOWSLEUTH_APPROVALS_APPROVERS_FILE", str(path))
    monkeypatch.setenv("FLOWSLEUTH_APPROVALS_USERS", '{"bob": ["data-engineer"]}')
    settings = ApprovalSettings()
    people = ApproverDirectory.from_settings(settings)
    assert people.roles_of("alice") == ["data-lead"] and people.teams_of("alice") == ["crm"]
    assert people.roles_of("bob") == ["data-engineer", "operator"]
    assert people.roles_of("nobody") == []
    common = {"requested_by": "agent", "owners": ["crm"], "directory": people, "settings": settings}
    assert refusal("bob", tier="medium", required_roles=["data-engineer"], **common) is None
    assert refusal("alice", tier="high", required_roles=["data-lead"], **common) is None
    why = refusal("bob", tier="high", required_roles=["data-lead"], **common)
    assert (
        why
        == "bob has roles [data-engineer, operator]; a high-tier action needs one of [data-lead]"
    )
    assert refusal(" ", tier="low", required_roles=[], **common) == "a decision needs a named user"


def test_bad_directory_files_are_clear(tmp_path: Path) -> None:
    path = tmp_path / "approvers.yaml"
    path.write_text("users:\n  alice: {roles: admin}\n")
    with pytest.raises(DirectoryError, match=r"users\.alice\.roles: Input should be a valid list"):
        ApproverDirectory.from_settings(ApprovalSettings(approvers_file=path))
    with pytest.raises(DirectoryError, match="no such file"):
        ApproverDirectory.from_settings(ApprovalSettings(approvers_file=tmp_path / "nope.yaml"))
