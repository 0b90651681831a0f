"""Runbook commands: ``playbooks``, ``propose``, ``approvals``, ``rollback``, ``audit``.

Thin adapters over :mod:`tools.runbooks`; every rule (tiers, roles, exactly-once) lives
there. ``--as`` names the acting user (default ``$FLOWSLEUTH_USER``, else the login).
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from agent.approvals import apply_decision
from agent.cli.context import CliState, console, fail, print_json, state
from tools.runbooks import (
    ContextError,
    NotAllowedError,
    Proposal,
    RemediationContext,
    UnknownProposalError,
    approve,
    context_from_incident,
    default_executors,
    expire_stale,
    get_proposal,
    list_proposals,
    load_context_file,
    load_playbooks,
    propose,
    reject,
    rollback,
    verify,
    verify_chain,
)
from tools.runbooks.executors import ExecutorRegistry
from tools.runbooks.loader import DEFAULT_DIR
from tools.runbooks.roles import DirectoryError

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON")]
UserOpt = Annotated[
    str | None, typer.Option("--as", help="Acting user (default $FLOWSLEUTH_USER or login)")
]
ReasonOpt = Annotated[str | None, typer.Option("--reason", help="Why, for the audit log")]
PlaybooksOpt = Annotated[
    Path | None, typer.Option("--playbooks", help="Playbook folder (default: ./playbooks)")
]

playbooks_app = typer.Typer(help="Inspect and validate playbooks.", no_args_is_help=True)
approvals_app = typer.Typer(help="The approval queue.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(playbooks_app, name="playbooks")
    app.add_typer(approvals_app, name="approvals")
    app.add_typer(audit_app, name="audit")
    app.command("propose")(propose_cmd)
    app.command("rollback")(rollback_cmd)


@contextmanager
def _executors() -> Iterator[ExecutorRegistry]:
    registry = default_executors()
    try:
        yield registry
    finally:
        registry.close()


def _user(value: str | None) -> str:
    return value or os.environ.get("FLOWSLEUTH_USER") or getpass.getuser()


def _playbook_dir(value: Path | None) -> Path:
    if value is not None:
        return value
    local = Path("playbooks")
    return local if local.is_dir() else DEFAULT_DIR


# -- playbooks ----------------------------------------------------------------------------


@playbooks_app.command("list")
def playbooks_list(
    path: Annotated[Path | None, typer.Argument()] = None, as_json: JsonOpt = False
) -> None:
    """Playbooks that load, with their triggers and actions."""
    result = load_playbooks(_playbook_dir(path))
    if as_json:
        print_json(
            {
                "playbooks": [p.model_dump(mode="json", by_alias=True) for p in result.playbooks],
                "errors": [e.model_dump() for e in result.errors],
            }
        )
        return
    table = Table("id", "fault kinds", "actions", "title")
    for p in result.playbooks:
        kinds = "any" if p.trigger.any_fault else ", ".join(p.trigger.fault_kinds)
        table.add_row(p.id, kinds, ", ".join(a.type for a in p.actions), p.title)
    console.print(table)
    for err in result.errors:
        typer.echo(f"invalid: {err}", err=True)


@playbooks_app.command("validate")
def playbooks_validate(
    path: Annotated[Path | None, typer.Argument(help="A playbook file or folder")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check playbooks; exit 1 naming file, line and reason of each invalid one."""
    target = _playbook_dir(path)
    if not target.exists():
        fail(f"{target}: no such file or folder")
    result = load_playbooks(target)
    if as_json:
        print_json(
            {
                "valid": [p.id for p in result.playbooks],
                "errors": [e.model_dump() for e in result.errors],
            }
        )
    else:
        for err in result.errors:
            typer.echo(str(err))
        typer.echo(f"{len(result.playbooks)} valid, {len(result.errors)} invalid")
    if result.errors:
        raise typer.Exit(1)


# -- propose ------------------------------------------------------------------------------


def propose_cmd(
    ctx: typer.Context,
    incident: Annotated[
        int | None, typer.Option("--incident", help="Incident id in the store")
    ] = None,
    context_file: Annotated[
        Path | None, typer.Option("--context", help="A RemediationContext JSON file")
    ] = None,
    playbooks: PlaybooksOpt = None,
    no_auto: Annotated[bool, typer.Option("--no-auto", help="Queue even low-risk actions")] = False,
    user: UserOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Plan remediation for an incident and queue it; low risk applies when policy allows."""
    st = state(ctx)
    context = _context(st, incident, context_file)
    loaded = load_playbooks(_playbook_dir(playbooks))
    for err in loaded.errors:
        typer.echo(f"skipped invalid playbook: {err}", err=True)
    with _executors() as registry:
        proposals = propose(
            st.store,
            context,
            playbooks=loaded.playbooks,
            executors=registry,
            requested_by=_user(user),
            auto_apply=not no_auto,
            now_us=st.now_us,
        )
    _show_list(proposals, as_json)


def _context(st: CliState, incident: int | None, path: Path | None) -> RemediationContext:
    if (incident is None) == (path is None):
        fail("give exactly one of --incident ID or --context FILE")
    try:
        if path is not None:
            return load_context_file(path)
        assert incident is not None
        return context_from_incident(st.store, incident)
    except ContextError as exc:
        fail(escape(str(exc)))
        raise


# -- approvals ----------------------------------------------------------------------------


@approvals_app.command("list")
def approvals_list(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="e.g. proposed, applied")] = None,
    incident: Annotated[int | None, typer.Option("--incident")] = None,
    limit: int = 100,
    as_json: JsonOpt = False,
) -> None:
    """Proposals, newest first."""
    st = state(ctx)
    expire_stale(st.store, st.now_us)
    _show_list(list_proposals(st.store, status=status, incident_id=incident, limit=limit), as_json)


@approvals_app.command("show")
def approvals_show(ctx: typer.Context, proposal_id: int, as_json: JsonOpt = False) -> None:
    """One proposal: evidence, blast radius, dry run, rollback plan, decision."""
    p = _get(ctx, proposal_id)
    if as_json:
        print_json(p)
        return
    typer.echo(f"#{p.id} {p.action_key}  [{p.tier}] {p.status}")
    typer.echo(f"incident {p.incident_id}; requested by {p.requested_by} at {p.created_at}")
    typer.echo("why: " + "; ".join(p.plan.decision.reasons))
    typer.echo(f"approvers: {', '.join(p.plan.decision.required_roles)}")
    typer.echo(f"params: {p.plan.params}")
    for check in p.preconditions:
        typer.echo(f"  {'ok ' if check.ok else 'NO '} {check.check}: {check.detail}")
    if p.dry_run:
        typer.echo(f"dry run: {p.dry_run.summary}")
        for step in p.dry_run.steps:
            typer.echo(f"  {step}")
    typer.echo(f"rollback: {p.rollback_plan.get('summary')}")
    if p.decided_by:
        typer.echo(f"decided by {p.decided_by} at {p.decided_at}: {p.reason or ''}")
    if p.result:
        typer.echo(f"result: {p.result.get('detail')}")


@approvals_app.command("approve")
def approvals_approve(
    ctx: typer.Context,
    proposal_id: int,
    reason: ReasonOpt = None,
    user: UserOpt = None,
    no_apply: Annotated[bool, typer.Option("--no-apply", help="Approve only")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Approve a proposal and (unless --no-apply) apply it; exactly one approval wins."""
    st = state(ctx)
    try:
        decision = approve(st.store, proposal_id, _user(user), reason, now_us=st.now_us)
    except (NotAllowedError, UnknownProposalError, DirectoryError) as exc:
        fail(escape(str(exc)))
        raise
    applied = None
    if decision.won:
        # Resumes the investigation waiting for this proposal (which applies it), else
        # applies it directly.
        with _executors() as registry:
            applied = apply_decision(
                st.store,
                decision,
                registry,
                apply_now=not no_apply,
                actor=_user(user),
                now_us=st.now_us,
            )
    if as_json:
        print_json({"decision": decision, "apply": applied})
    else:
        typer.echo(decision.message)
        if applied is not None:
            typer.echo(f"{applied.status}: {applied.message}")
    if not decision.won or (applied is not None and not applied.done):
        raise typer.Exit(1)


@approvals_app.command("reject")
def approvals_reject(
    ctx: typer.Context,
    proposal_id: int,
    reason: ReasonOpt = None,
    user: UserOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Reject a proposal."""
    st = state(ctx)
    try:
        decision = reject(st.store, proposal_id, _user(user), reason, now_us=st.now_us)
    except (NotAllowedError, UnknownProposalError, DirectoryError) as exc:
        fail(escape(str(exc)))
        raise
    if decision.won:
        with _executors() as registry:
            apply_decision(st.store, decision, registry, apply_now=False, now_us=st.now_us)
    if as_json:
        print_json(decision)
    else:
        typer.echo(decision.message)
    if not decision.won:
        raise typer.Exit(1)


@approvals_app.command("verify")
def approvals_verify(ctx: typer.Context, proposal_id: int, as_json: JsonOpt = False) -> None:
    """Check whether an applied action's signal recovered (passed / pending / failed)."""
    st = state(ctx)
    _get(ctx, proposal_id)
    with _executors() as registry:
        result = verify(st.store, proposal_id, registry, now_us=st.now_us)
    if as_json:
        print_json(result)
    else:
        typer.echo(f"{result.status}: {result.detail}")
    if result.status == "failed":
        raise typer.Exit(1)


def rollback_cmd(
    ctx: typer.Context,
    proposal_id: int,
    reason: ReasonOpt = None,
    user: UserOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Undo an applied action, restoring the state captured before it ran."""
    st = state(ctx)
    try:
        with _executors() as registry:
            result = rollback(
                st.store, proposal_id, registry, _user(user), reason, now_us=st.now_us
            )
    except (NotAllowedError, UnknownProposalError, DirectoryError) as exc:
        fail(escape(str(exc)))
        raise
    if as_json:
        print_json(result)
    else:
        typer.echo(f"{result.status}: {result.message}")
    if not result.done:
        raise typer.Exit(1)


# -- audit --------------------------------------------------------------------------------


@audit_app.command("verify")
def audit_verify(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Recompute the audit hash chain; exit 1 at the first broken row."""
    result = verify_chain(state(ctx).store)
    if as_json:
        print_json(result)
    elif result.ok:
        typer.echo(f"audit chain intact: {result.rows} rows, head {result.head[:16]}")
    else:
        typer.echo(f"audit chain broken at row {result.first_broken_seq}: {result.reason}")
    if not result.ok:
        raise typer.Exit(1)


def _get(ctx: typer.Context, proposal_id: int) -> Proposal:
    try:
        return get_proposal(state(ctx).store, proposal_id)
    except UnknownProposalError as exc:
        fail(escape(str(exc)))
        raise


def _show_list(proposals: list[Proposal], as_json: bool) -> None:
    if as_json:
        print_json([p.model_dump(mode="json") for p in proposals])
        return
    table = Table("id", "incident", "action", "tier", "status", "preconditions", "dry run")
    for p in proposals:
        table.add_row(
            str(p.id),
            str(p.incident_id),
            p.action_key,
            p.tier,
            p.status,
            "ok" if p.preconditions_ok else "blocked",
            (p.dry_run.summary if p.dry_run else "")[:60],
        )
    console.print(table)
