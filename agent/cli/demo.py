"""``flowsleuth demo``: a simulated MarTech stack breaks, and flowsleuth's agent explains
it, fixes what policy lets it fix, verifies the fix, and queues the rest for a person.

Everything runs in-process on a fresh SQLite file: no server, no key (an LLM is used when
``FLOWSLEUTH_LLM_MODEL`` is set). The simulated telemetry goes through the same
ingestion, detection, lineage, agent and runbook code as real input; actions go to the
live simulated stack, which then runs on with them in effect.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from agent.cli.context import CliState, console, fail, print_json, state
from agent.cli.incidents import merge_json, print_results
from agent.cli.simulate import default_end, print_scenarios
from agent.graph import AgentDeps, AgentResult, investigate_incident, open_checkpointer
from agent.llm import LLMConfigError, LLMSettings, chat_model_from_env
from tools.incidents.investigate import investigate
from tools.runbooks import PolicyConfig, get_proposal, verify
from tools.simulate import FaultSpec, SimConfig, SimConfigError, Simulation, list_scenarios
from tools.simulate.control import SimulatedStack, simulator_executors

# Two faults: a failing model job (its retry is low risk under the demo policy, applied
# and verified on the simulated stack) and an expired vendor token (refreshing a
# credential is high impact and never automatic: it waits for a person).
DEFAULT_FAULTS = (
    ("failed_staging_job", "job:dbt://acme:analytics.marts.fct_orders"),
    ("expired_vendor_token", None),
)
# Under the default policy every fix in the simulated stack (where every table feeds a
# campaign) is at least medium risk; the demo lets retries and re-syncs stay low up to
# this blast radius so the automatic path shows. FLOWSLEUTH_POLICY_* still win.
DEMO_POLICY = {"medium_revenue_per_day": 25_000.0, "medium_campaigns": 3}


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo_policy() -> tuple[PolicyConfig, list[str]]:
    overrides = {
        k: v for k, v in DEMO_POLICY.items() if f"FLOWSLEUTH_POLICY_{k.upper()}" not in os.environ
    }
    policy = PolicyConfig().model_copy(update=overrides)
    return policy, [f"{k}={v:g}" for k, v in overrides.items()]


def _config(
    st: CliState, scenarios: list[str] | None, size: int, days: int, seed: int
) -> SimConfig:
    end = default_end(st.now)
    if scenarios:
        faults = [FaultSpec(name) for name in scenarios]
        return SimConfig(end=end, seed=seed, size=size, days=days, scenarios=faults)
    try:
        faults = [FaultSpec(name, node=node) for name, node in DEFAULT_FAULTS]
        config = SimConfig(end=end, seed=seed, size=size, days=days, scenarios=faults)
        Simulation(config)  # places the faults: fails if this topology lacks the job
        return config
    except SimConfigError:
        # Another size or seed has no such job: let each fault pick its usual place.
        faults = [FaultSpec(name) for name, _ in DEFAULT_FAULTS]
        return SimConfig(end=end, seed=seed, size=size, days=days, scenarios=faults)


def demo(
    ctx: typer.Context,
    scenario: Annotated[
        list[str] | None,
        typer.Option(
            "--scenario", "-s", help="Fault to inject (repeatable; default: two); see --list"
        ),
    ] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the fault scenarios")] = False,
    folder: Annotated[
        Path | None,
        typer.Option("--dir", help="Folder for the demo store (default: a new temporary folder)"),
    ] = None,
    size: Annotated[int, typer.Option(help="Approximate number of nodes")] = 40,
    days: Annotated[int, typer.Option(help="Days of history")] = 14,
    seed: Annotated[int, typer.Option(help="Random seed")] = 7,
    hours: Annotated[
        int, typer.Option(help="Hours the stack runs on after the fixes, before verifying")
    ] = 2,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the investigation as JSON")
    ] = False,
) -> None:
    """Simulate a MarTech stack with injected incidents; find, explain and fix them."""
    if list_:
        print_scenarios()
        return
    known = {s.name for s in list_scenarios()}
    for name in scenario or []:
        if name not in known:
            fail(f"unknown scenario {name!r}; see flowsleuth demo --list")
    began = time.perf_counter()
    target = folder or Path(tempfile.mkdtemp(prefix="flowsleuth-demo-"))
    target.mkdir(parents=True, exist_ok=True)
    db_path = target / "flowsleuth.db"
    if db_path.exists():
        fail(f"{db_path} exists; the demo starts from a fresh store (choose another --dir)")
    st = state(ctx)
    try:
        config = _config(st, scenario, size, days, seed)
        model = chat_model_from_env()
    except (SimConfigError, ValueError, LLMConfigError) as exc:
        fail(str(exc))
        raise
    st.settings.db = f"sqlite:///{db_path}"
    store = st.store
    policy, loosened = demo_policy()
    if not as_json:
        console.print(
            f"[bold]flowsleuth demo[/]: {days} days of a simulated MarTech stack (~{size} "
            f"nodes) with {len(config.scenarios)} injected fault(s), into {db_path}"
        )
    with console.status("simulating + ingesting telemetry", spinner="dots"):
        stack = SimulatedStack.start(store, config)
    with console.status("detecting, ranking root causes, explaining, proposing", spinner="dots"):
        doc = investigate(store, stack.now_us)
        registry = simulator_executors(stack)
        deps = AgentDeps(
            store=store,
            executors=registry,
            model=model,
            policy=policy,
            now_us=stack.now_us,
            budget_tokens=LLMSettings().max_input_tokens,
        )
        with open_checkpointer(store) as saver:
            results = {
                inc.id: investigate_incident(deps, inc.id, stack.now_us, saver)
                for inc in doc.incidents
            }
    applied = [p["id"] for r in results.values() for p in r.proposals if p["status"] == "applied"]
    if applied:
        with console.status(f"the stack runs on for {hours} h with the fixes in effect"):
            stack.advance(hours)
    checks = {pid: verify(store, pid, registry, now_us=stack.now_us) for pid in applied}
    elapsed = time.perf_counter() - began
    if as_json:
        out = merge_json(doc, results)
        out["verification_after_hours"] = {
            "hours": hours,
            "results": {str(pid): v.model_dump(mode="json") for pid, v in checks.items()},
        }
        out["policy_overrides"] = loosened
        out["truth"] = stack.truth()
        out["elapsed_s"] = round(elapsed, 2)
        print_json(out)
        return
    console.print(
        f"{doc.anomalies_open} anomalies open, {len(doc.incidents)} incident(s); demo policy: "
        f"{', '.join(loosened) or 'as configured'} (see FLOWSLEUTH_POLICY_*)\n"
    )
    print_results(st, doc, results)
    _verification(st, checks, hours)
    _queue(results)
    _truth(stack.truth())
    _next_steps(db_path, elapsed, results)


def _verification(st: CliState, checks: dict[int, Any], hours: int) -> None:
    fixes = {
        pid: r
        for pid, r in checks.items()
        if get_proposal(st.store, pid).action_type != "notify_owner"
    }
    notified = len(checks) - len(fixes)
    if not fixes:
        console.print(
            "\nno fix was applied automatically"
            + (f"; {notified} owner notification(s) sent" if notified else "")
        )
        return
    table = Table(title=f"Applied automatically, verified after the stack ran {hours} h more")
    for col in ("#", "action", "risk", "target", "verification"):
        table.add_column(col)
    for pid, result in fixes.items():
        p = get_proposal(st.store, pid)
        target = next((str(v) for v in p.plan.params.values() if isinstance(v, str)), "")
        style = {"passed": "green", "failed": "red"}.get(result.status, "yellow")
        table.add_row(
            str(pid),
            p.action_type.replace("_", " "),
            p.tier,
            escape(target.rsplit(":", 1)[-1]),
            f"[{style}]{result.status}[/]: {escape(result.detail)}",
        )
    console.print(table)
    if notified:
        console.print(f"(and {notified} owner notification(s) sent, low risk by policy)")


def _queue(results: dict[int, AgentResult]) -> None:
    waiting = [
        (r.incident_id, p) for r in results.values() for p in r.proposals if p["id"] in r.awaiting
    ]
    if not waiting:
        console.print("\nthe approval queue is empty")
        return
    table = Table(title="Waiting for a person (the investigation is paused until they decide)")
    for col in ("#", "incident", "action", "risk", "approvers", "why"):
        table.add_column(col)
    for incident_id, p in waiting:
        table.add_row(
            str(p["id"]),
            str(incident_id),
            p["action"].replace("_", " "),
            p["tier"],
            ", ".join(p["required_roles"]),
            escape("; ".join(p["reasons"][1:3])),
        )
    console.print(table)


def _truth(truth: list[dict[str, Any]]) -> None:
    for t in truth:
        fixed = ", ".join(r["action"] for r in t.get("remediations") or [])
        state = f"fixed by {fixed}" if fixed else "not fixed yet"
        console.print(
            f"[dim]The simulator injected [bold]{t['kind']}[/bold] at {escape(t['root'])} from "
            f"{t['start']} ({t['scenario']}): {state}[/]"
        )


def _next_steps(db_path: Path, elapsed: float, results: dict[int, AgentResult]) -> None:
    db = f"--db {db_path}"
    waiting = next((pid for r in results.values() for pid in r.awaiting), None)
    lines = [
        f"Done in {elapsed:.1f} s. Try next:",
        f"  flowsleuth {db} investigate --json            # the same, as JSON",
        f"  flowsleuth {db} approvals list                # proposals and their status",
        f'  flowsleuth {db} ask "why did the sync fail?"   # chat (needs FLOWSLEUTH_LLM_MODEL)',
        f"  flowsleuth {db} lineage impact <node>         # revenue downstream of any node",
        f"  flowsleuth {db} mcp                           # MCP server for your IDE assistant",
        "  flowsleuth demo --list                         # other faults to inject",
    ]
    if waiting is not None:
        lines.insert(
            3,
            f"  flowsleuth {db} approvals approve {waiting} --as <a data-lead>"
            "   # resumes the paused investigation",
        )
    console.print("\n".join(lines))
