"""A scripted chat model for agent tests: supports ``bind_tools`` and records every call.

Each turn takes the next entry of ``script``: an AIMessage, a string (a plain answer) or
a callable that builds the reply from the messages it was sent (to answer from what a
tool returned). When the script runs out it answers ``default``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field

Reply = AIMessage | str | Callable[[list[BaseMessage]], AIMessage | str]


class ScriptedChatModel(BaseChatModel):
    script: list[Any] = Field(default_factory=list)  # of Reply; Any keeps pydantic out
    default: str = "done"
    calls: list[list[BaseMessage]] = Field(default_factory=list)
    bound: list[list[str]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        names = [convert_to_openai_tool(t)["function"]["name"] for t in tools]
        self.bound.append(names)
        return self

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.calls.append(list(messages))
        entry: Reply = self.script.pop(0) if self.script else self.default
        reply = entry(list(messages)) if callable(entry) else entry
        message = reply if isinstance(reply, AIMessage) else AIMessage(content=reply)
        if message.usage_metadata is None:
            size = sum(len(str(m.content)) for m in messages) // 4
            message = message.model_copy(
                update={
                    "usage_metadata": {
                        "input_tokens": size,
                        "output_tokens": len(str(message.content)) // 4,
                        "total_tokens": size + len(str(message.content)) // 4,
                    }
                }
            )
        return ChatResult(generations=[ChatGeneration(message=message)])


def tool_call(name: str, args: dict[str, Any], call_id: str = "call-1") -> AIMessage:
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": call_id}])


__all__ = ["ScriptedChatModel", "tool_call"]
