"""Chat mode: questions answered by an LLM over flowsleuth's MCP tools (read, propose)."""

from agent.chat.servers import ChatConfigError, extra_servers, own_server, own_stdio
from agent.chat.session import ChatAnswer, aask, ask
from agent.chat.tools import safe_tools

__all__ = [
    "ChatAnswer",
    "ChatConfigError",
    "aask",
    "ask",
    "extra_servers",
    "own_server",
    "own_stdio",
    "safe_tools",
]
