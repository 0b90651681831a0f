"""Which MCP tools chat mode may bind: reading, and asking for remediation. Never acting.

Filtering is structural: a tool that could approve, reject, apply or roll back an action
is never given to the model, so no prompt (nor any text injected into telemetry) can make
the model call one. From flowsleuth's own server only read-only tools and the two that
queue work for a person (``propose_remediation``, ``request_approval``) are kept; from
other servers, only tools that declare themselves read-only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from langchain_core.tools import BaseTool

# Tools of our server that change nothing outside the approval queue: proposing applies
# nothing (propose_remediation never auto-applies), asking for approval decides nothing.
QUEUE_TOOLS = frozenset({"propose_remediation", "request_approval"})
# Whatever a server claims about it, a tool named like this is never bound.
FORBIDDEN = re.compile(
    r"approv(?:e|al_decision)|reject|apply|rollback|roll_back|execute|delete|drop|pause|"
    r"run_detection|refresh_credential|quarantine|backfill|rehydrate|decide|write",
    re.IGNORECASE,
)


def tool_annotations(tool: BaseTool) -> dict[str, Any]:
    meta = tool.metadata or {}
    found = meta.get("mcp", {}).get("tool", {}).get("annotations", {})
    return found if isinstance(found, dict) else {}


def is_read_only(tool: BaseTool) -> bool:
    return tool_annotations(tool).get("read_only_hint") is True


def allowed(tool: BaseTool, *, ours: bool) -> bool:
    if ours and tool.name in QUEUE_TOOLS:
        return True
    if FORBIDDEN.search(tool.name):
        return False
    return is_read_only(tool)


def safe_tools(tools: Iterable[BaseTool], *, ours: bool) -> list[BaseTool]:
    return [t for t in tools if allowed(t, ours=ours)]


__all__ = ["FORBIDDEN", "QUEUE_TOOLS", "allowed", "is_read_only", "safe_tools", "tool_annotations"]
