"""``flowsleuth ask "question"``: chat mode, an LLM answering from flowsleuth's MCP tools.

Needs a model (``FLOWSLEUTH_LLM_MODEL``, ``FLOWSLEUTH_LLM_BASE_URL``). The model reads
through the MCP tools and may queue remediation proposals; approving and applying stay
with people (``flowsleuth approvals``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from agent.cli.context import console, fail, print_json, state
from agent.llm import LLMConfigError, LLMSettings, chat_model_from_env
from tools.timeutil import iso

if TYPE_CHECKING:
    from langchain.mcp.adapter import MCPAdapterTarget


def register(app: typer.Typer) -> None:
    app.command("ask")(ask_cmd)


def ask_cmd(
    ctx: typer.Context,
    question: Annotated[str, typer.Argument(help="What you want to know, in plain words")],
    stdio: Annotated[
        bool,
        typer.Option("--stdio", help="Reach flowsleuth's MCP server as a subprocess on stdio"),
    ] = False,
    max_calls: Annotated[
        int, typer.Option("--max-calls", min=1, max=50, help="Most model calls to make")
    ] = 8,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Ask about incidents, lineage, runs and metrics; the answer comes from the tools."""
    # Imported here: the agent framework and MCP client take seconds to load, and every
    # other command would pay for them.
    from agent.chat import ChatConfigError, ask, extra_servers, own_server, own_stdio

    st = state(ctx)
    try:
        model = chat_model_from_env()
        extra = extra_servers()
    except (LLMConfigError, ChatConfigError) as exc:
        fail(str(exc))
        raise
    if model is None:
        fail(
            "chat mode needs an LLM: set FLOWSLEUTH_LLM_MODEL (and FLOWSLEUTH_LLM_BASE_URL "
            "for a local OpenAI-compatible server); `flowsleuth investigate` works without one"
        )
        raise typer.Exit(2)
    target: MCPAdapterTarget
    if stdio:
        url = st.store.engine.url.render_as_string(hide_password=False)
        at = iso(st.now_us) if st.settings.at else None
        target = own_stdio(url, at)
    else:
        target = own_server(st.store, clock=lambda: st.now_us)
    answer = ask(
        question,
        model,
        target,
        extra=extra,
        max_model_calls=max_calls,
        budget_tokens=LLMSettings().chat_max_input_tokens,
    )
    if as_json:
        print_json(answer.model_dump(mode="json"))
        return
    console.print(escape(answer.answer))
    used = ", ".join(dict.fromkeys(c["name"] for c in answer.tool_calls)) or "none"
    console.print(
        f"[dim]tools used: {escape(used)}; {answer.llm.get('calls', 0)} model call(s), "
        f"{answer.llm.get('input_tokens', 0)} tokens in[/]"
    )
    if answer.refused_calls:
        console.print(
            f"[dim]the model asked for tools it does not have: "
            f"{escape(', '.join(answer.refused_calls))}[/]"
        )
