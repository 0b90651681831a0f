"""Building flowsleuth's MCP server: tool families, resources, prompts, scope checks.

Read-only by default. ``enable_writes`` adds the tools that write (proposing remediation,
asking for approval, applying what the policy alone allows); ``families`` and
``disabled`` choose which tool families and which single tools are offered, as
mcp-grafana's ``--enabled-tools`` / ``--disable-*`` do.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from importlib import metadata
from pathlib import Path
from typing import Any

from mcp.server.auth.provider import TokenVerifier
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.tools import Tool
from tools.runbooks.executors.base import ExecutorRegistry
from tools.runbooks.loader import DEFAULT_DIR
from tools.runbooks.policy import PolicyConfig
from tools.runbooks.roles import ApprovalSettings
from tools.server.mcp import incidents, lineage, runbooks, telemetry
from tools.server.mcp.auth import hide_write_tools
from tools.server.mcp.budget import DEFAULT_BUDGET_TOKENS, Budget
from tools.server.mcp.prompts import register_prompts
from tools.server.mcp.registry import ToolDeps, ToolSpec, tools_of
from tools.server.mcp.resources import register_resources
from tools.server.mcp.schema import plain_schema
from tools.store.db import Store
from tools.store.models import now_micros


def _detection(deps: ToolDeps) -> object:
    # Imported when offered: the detectors pull in numpy and the whole detection engine,
    # which a server limited to other families never needs.
    from tools.server.mcp.detection import DetectionTools

    return DetectionTools(deps)


FAMILIES: dict[str, Callable[[ToolDeps], object]] = {
    telemetry.FAMILY: telemetry.TelemetryTools,
    lineage.FAMILY: lineage.LineageTools,
    incidents.FAMILY: incidents.IncidentTools,
    runbooks.FAMILY: runbooks.RunbookTools,
    "detection": _detection,
}

INSTRUCTIONS = """\
flowsleuth watches MarTech data pipelines (OpenLineage lineage and runs, OTLP metrics, logs
and traces, a business catalog) and finds, explains and helps fix data incidents.

- Assets are named 'dataset:<namespace>:<name>' or 'job:<namespace>:<name>'; list_assets
  finds them. Times are ISO 8601 or durations back from now ('24h', '7d').
- Start an investigation from list_incidents / get_incident, root_cause_candidates and
  assess_impact; the investigate_incident prompt walks through it. The resource
  flowsleuth://contract explains every signal and the fault-kind vocabulary.
- Results are bounded: when page.truncated is true, call again with offset=page.next_offset.
- Risk tiers are decided by flowsleuth's policy in code. Proposing applies nothing; only
  low-risk actions the policy allows can be applied here, everything else waits for a
  human approver.
"""


def tool_specs(deps: ToolDeps, families: Collection[str] | None = None) -> list[ToolSpec]:
    """Every tool of the chosen families (all by default), writes included."""
    out: list[ToolSpec] = []
    for name, family in FAMILIES.items():
        if families is None or name in families:
            out.extend(tools_of(family(deps), name))
    return out


def check_families(families: Collection[str] | None) -> set[str]:
    known = list(FAMILIES)
    chosen = set(known if families is None else families)
    unknown = sorted(chosen - set(known))
    if unknown:
        raise ValueError(
            f"unknown tool family {', '.join(unknown)}; choose from {', '.join(known)}"
        )
    return chosen


def select_tools(
    specs: list[ToolSpec],
    *,
    enable_writes: bool,
    families: Collection[str] | None,
    disabled: Collection[str] | None,
) -> list[ToolSpec]:
    """The tools to offer; unknown family or tool names are errors naming the valid ones."""
    chosen = check_families(families)
    names = {s.name for s in specs}
    off = set(disabled or ())
    bad = sorted(off - names)
    if bad:
        raise ValueError(f"unknown tool {', '.join(bad)}; tools are {', '.join(sorted(names))}")
    return [
        s
        for s in specs
        if s.family in chosen and s.name not in off and (enable_writes or not s.meta.write)
    ]


def build_mcp_server(
    store: Store,
    *,
    enable_writes: bool = False,
    families: Collection[str] | None = None,
    disabled: Collection[str] | None = None,
    budget_tokens: int = DEFAULT_BUDGET_TOKENS,
    clock: Callable[[], int] = now_micros,
    executors: Callable[[], ExecutorRegistry] | None = None,
    playbooks_dir: Path = DEFAULT_DIR,
    policy: PolicyConfig | None = None,
    approval_settings: ApprovalSettings | None = None,
    token_verifier: TokenVerifier | None = None,
    auth: AuthSettings | None = None,
) -> MCPServer:
    """flowsleuth's MCP server over ``store``.

    ``clock`` gives "now" in epoch microseconds (``--at`` replays history);
    ``executors`` builds the action executors for one write call (default: HTTP and SQL
    from the environment's secrets). ``token_verifier`` and ``auth`` apply to the HTTP
    transport only.
    """
    deps = ToolDeps(
        store=store,
        budget=Budget(budget_tokens),
        clock=clock,
        playbooks_dir=playbooks_dir,
        policy=policy,
        approval_settings=approval_settings,
        executor_factory=executors,
    )
    specs = tool_specs(deps, check_families(families))
    offered = select_tools(specs, enable_writes=enable_writes, families=families, disabled=disabled)
    server: MCPServer[Any] = MCPServer(
        "flowsleuth",
        title="flowsleuth",
        description="Telemetry, lineage, incidents and runbooks of MarTech data pipelines",
        instructions=INSTRUCTIONS,
        version=_version(),
        token_verifier=token_verifier,
        auth=auth,
        log_level="WARNING",
        tools=[_tool(spec) for spec in offered],
    )
    server.middleware.append(hide_write_tools(frozenset(s.name for s in specs if s.meta.write)))
    chosen_families = set(FAMILIES if families is None else families)
    register_resources(server, deps, chosen_families)
    register_prompts(server, deps, {s.name for s in offered})
    return server


def _tool(spec: ToolSpec) -> Tool:
    tool = Tool.from_function(
        spec.fn,
        name=spec.name,
        title=spec.meta.title,
        annotations=spec.meta.annotations,
        meta={"family": spec.family, "writes": spec.meta.write},
    )
    schema = tool.fn_metadata.output_schema
    if schema is not None:
        # Results are still validated against the return model; only the published
        # schema takes its plain, equivalent form (see tools.server.mcp.schema).
        tool.fn_metadata.output_schema = plain_schema(schema)
    return tool


def _version() -> str:
    try:
        return metadata.version("flowsleuth")
    except metadata.PackageNotFoundError:
        return "0.0.0"


__all__ = ["FAMILIES", "INSTRUCTIONS", "build_mcp_server", "select_tools", "tool_specs"]
