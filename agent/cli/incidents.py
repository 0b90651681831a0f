"""``flowsleuth incidents`` and ``flowsleuth investigate``: incidents as of a moment.

``investigate`` runs the agent on each incident: evidence, explanation, proposals, and a
pause (checkpointed) where an action needs a person; ``flowsleuth approvals approve``
resumes it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.markup import escape

from agent.cli.context import CliState, console, fail, print_json, state
from agent.graph import AgentDeps, AgentResult, investigate_incident, open_checkpointer
from agent.graph.checkpoint import CheckpointConfigError
from agent.llm import LLMConfigError, LLMSettings, chat_model_from_env
from agent.report import print_incident
from tools.incidents import UnknownIncidentError, list_incidents
from tools.incidents.investigate import Investigation
from tools.incidents.investigate import investigate as run_investigation
from tools.runbooks import default_executors, get_proposal
from tools.runbooks.executors import ExecutorRegistry
from tools.timeutil import parse_timestamp

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON")]
AtOpt = Annotated[str | None, typer.Option("--at", help="Investigate as of this ISO time")]


def register(app: typer.Typer) -> None:
    app.command("incidents")(incidents)
    app.command("investigate")(investigate)


def _at(ctx: typer.Context, at: str | None) -> int:
    st = state(ctx)
    if at:
        try:
            st.settings.at = parse_timestamp(at)
        except ValueError as exc:
            fail(f"--at: {exc}")
    return st.now_us


def incidents(
    ctx: typer.Context,
    at: AtOpt = None,
    all_: Annotated[bool, typer.Option("--all", help="Resolved ones too")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Detect as of --at, group anomalies into incidents, list them (most severe first)."""
    now = _at(ctx, at)
    st = state(ctx)
    run_investigation(st.store, now)
    rows = list_incidents(st.store, status=None if all_ else "open")
    if as_json:
        print_json({"incidents": [r.model_dump(mode="json") for r in rows]})
        return
    if not rows:
        console.print("no open incidents")
    for r in rows:
        top = r.root_causes[0] if r.root_causes else None
        cause = f"{top.kind} at {top.node} ({top.confidence:.0%})" if top else "cause unknown"
        console.print(
            f"[bold]#{r.id}[/] [{r.severity}] {r.title}\n    {cause}; "
            f"{len(r.symptoms)} symptoms, ${r.revenue_at_risk_per_day:,.0f}/day at risk"
        )


@contextmanager
def _registry() -> Iterator[ExecutorRegistry]:
    registry = default_executors()
    try:
        yield registry
    finally:
        registry.close()


def run_agent(
    st: CliState,
    doc: Investigation,
    now_us: int,
    executors: ExecutorRegistry,
    *,
    auto_apply: bool = True,
) -> dict[int, AgentResult]:
    """The agent on every incident of ``doc``; results by incident id."""
    try:
        model = chat_model_from_env()
    except LLMConfigError as exc:
        fail(str(exc))
        raise
    deps = AgentDeps(
        store=st.store,
        executors=executors,
        model=model,
        now_us=now_us,
        auto_apply=auto_apply,
        budget_tokens=LLMSettings().max_input_tokens,
    )
    results: dict[int, AgentResult] = {}
    try:
        with open_checkpointer(st.store) as saver:
            for inc in doc.incidents:
                results[inc.id] = investigate_incident(deps, inc.id, now_us, saver)
    except CheckpointConfigError as exc:
        fail(str(exc))
    return results


def merge_json(doc: Investigation, results: dict[int, AgentResult]) -> dict[str, Any]:
    """``investigate --json``: the detection document plus what the agent found."""
    out = doc.as_json()
    for inc in out["incidents"]:
        result = results.get(inc["id"])
        if result is None:
            continue
        inc["explanation"] = result.explanation
        inc["hypotheses"] = result.hypotheses
        inc["proposals"] = result.proposals
        inc["agent"] = {
            "thread_id": result.thread_id,
            "status": result.status,
            "awaiting_approval": result.awaiting,
            "decisions": result.decisions,
            "applied": result.applied,
            "verification": result.verification,
            "llm": result.llm,
            "evidence": result.evidence,
            "evidence_errors": result.evidence_errors,
            "notes": result.notes,
            "report": result.report,
            "elapsed_s": result.elapsed_s,
        }
    return out


def print_results(st: CliState, doc: Investigation, results: dict[int, AgentResult]) -> None:
    for inc in doc.incidents:
        result = results.get(inc.id)
        if result is None:
            print_incident(inc, console=console)
            continue
        proposals = [get_proposal(st.store, p["id"]) for p in result.proposals]
        text = (result.explanation or {}).get("text")
        print_incident(inc, proposals, console=console, explanation=text)
        source = (result.explanation or {}).get("source", "narrator")
        llm = result.llm
        note = (
            f"explained by the LLM ({llm.get('model')}, {llm.get('input_tokens')} tokens in)"
            if source == "llm"
            else "explained by the narrator"
            + (
                f" ({result.explanation.get('fallback_reason')})"
                if result.explanation and result.explanation.get("fallback_reason")
                else ""
            )
        )
        console.print(f"[dim]{escape(note)}[/]")
        if result.awaiting:
            ids = " ".join(str(i) for i in result.awaiting)
            console.print(
                f"[bold yellow]waiting for approval:[/] proposal(s) {ids}; "
                f"flowsleuth approvals show <id>, then approvals approve|reject <id>"
            )


def investigate(
    ctx: typer.Context,
    at: AtOpt = None,
    incident: Annotated[int | None, typer.Option("--incident", help="Only this incident")] = None,
    no_agent: Annotated[
        bool,
        typer.Option("--no-agent", help="Detection and ranking only: no explanation, no proposals"),
    ] = False,
    no_auto: Annotated[
        bool, typer.Option("--no-auto", help="Queue even low-risk actions for approval")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Detect as of --at, rank root causes, size the blast radius, explain and propose
    fixes; actions needing a person wait in the approval queue."""
    now = _at(ctx, at)
    st = state(ctx)
    try:
        doc = run_investigation(st.store, now, incident_id=incident)
    except UnknownIncidentError as exc:
        fail(str(exc))
        raise
    results: dict[int, AgentResult] = {}
    if not no_agent and doc.incidents:
        with _registry() as registry:
            results = run_agent(st, doc, now, registry, auto_apply=not no_auto)
    if as_json:
        print_json(merge_json(doc, results))
        return
    if not doc.incidents:
        console.print(f"no incidents as of {doc.at} ({doc.anomalies_open} open anomalies)")
    print_results(st, doc, results)
