"""Shipped playbooks load and cover every fault kind; broken files are reported, not fatal."""

from __future__ import annotations

from pathlib import Path

from tools.faults import FAULT_KINDS
from tools.runbooks.loader import DEFAULT_DIR, load_playbooks

GOOD = """\
id: good_one
title: Retry
trigger:
  fault_kinds: [job_failure]
actions:
  - id: retry
    type: retry_job
    executor: http
    params: {job: "{{ root_cause.node }}"}
    http: {target: orchestrator, path: /retry, json: {job: "{{ params.job }}"}}
    verification: {signal: run_succeeded, params: {job: "{{ params.job }}"}}
    rollback: {mode: none, reason: idempotent}
"""


def test_shipped_playbooks_all_load() -> None:
    result = load_playbooks(DEFAULT_DIR)
    assert result.errors == []
    assert len(result.playbooks) == len(list(DEFAULT_DIR.glob("*.yaml")))


def test_every_fault_kind_has_its_own_playbook() -> None:
    result = load_playbooks(DEFAULT_DIR)
    covered = {
        kind for p in result.playbooks if not p.trigger.any_fault for kind in p.trigger.fault_kinds
    }
    assert sorted(set(FAULT_KINDS) - covered) == []
    # The catch-all notifier exists for incidents without a root cause.
    assert any(p.trigger.without_root_cause for p in result.playbooks)


def test_invalid_playbooks_are_reported_with_file_line_and_reason(tmp_path: Path) -> None:
    (tmp_path / "a_good.yaml").write_text(GOOD)
    (tmp_path / "bad_yaml.yaml").write_text("id: x\ntitle: [unclosed\n")
    (tmp_path / "unknown_action.yaml").write_text(
        GOOD.replace("good_one", "u").replace("type: retry_job", "type: drop_database")
    )
    (tmp_path / "missing_field.yaml").write_text(
        GOOD.replace("good_one", "m").replace(
            "    rollback: {mode: none, reason: idempotent}\n", ""
        )
    )
    (tmp_path / "wrong_executor.yaml").write_text(
        GOOD.replace("good_one", "w").replace("executor: http", "executor: sql")
    )
    (tmp_path / "bad_placeholder.yaml").write_text(
        GOOD.replace("good_one", "p").replace("{{ root_cause.node }}", "{{ secrets.token }}")
    )
    (tmp_path / "duplicate.yaml").write_text(GOOD)
    result = load_playbooks(tmp_path)
    assert [p.id for p in result.playbooks] == ["good_one"]
    errors = {Path(e.file).name: e for e in result.errors}
    assert set(errors) == {
        "bad_yaml.yaml",
        "unknown_action.yaml",
        "missing_field.yaml",
        "wrong_executor.yaml",
        "bad_placeholder.yaml",
        "duplicate.yaml",
    }
    assert errors["bad_yaml.yaml"].line == 3 and "invalid YAML" in errors["bad_yaml.yaml"].reason
    unknown = errors["unknown_action.yaml"]
    assert unknown.line == 7 and "actions.0.type" in unknown.reason
    assert "retry_job" in unknown.reason  # the error lists what is allowed
    missing = errors["missing_field.yaml"]
    assert missing.line == 6 and "actions.0.rollback: Field required" in missing.reason
    wrong = errors["wrong_executor.yaml"]
    assert wrong.line == 6 and "cannot run on executor 'sql'" in wrong.reason
    assert "unknown name 'secrets'" in errors["bad_placeholder.yaml"].reason
    assert "already used by" in errors["duplicate.yaml"].reason
    assert str(unknown).startswith(f"{tmp_path / 'unknown_action.yaml'}:7: ")


def test_a_file_that_is_not_a_mapping_or_missing(tmp_path: Path) -> None:
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    result = load_playbooks([tmp_path / "list.yaml", tmp_path / "gone.yaml"])
    reasons = [e.reason for e in result.errors]
    assert reasons == ["a playbook must be a YAML mapping", "no such file"]
