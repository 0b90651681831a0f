"""A local OpenAI-compatible server (``POST /v1/chat/completions``) for end-to-end tests.

It runs uvicorn in a thread on a free loopback port, records every request body, and
answers from a script: each entry is a string (a plain reply), a list of tool calls
``[(name, args), ...]``, or a callable ``(request_json) -> str | list`` for replies that
depend on what was sent. Usage is reported like OpenAI does, so token accounting is
exercised through the real client.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request

from tests.helpers.asgi_server import serve_asgi

Entry = str | list[tuple[str, dict[str, Any]]] | Callable[[dict[str, Any]], Any]


@dataclass
class OpenAIStub:
    script: list[Entry] = field(default_factory=list)
    default: str = "done"
    requests: list[dict[str, Any]] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    base_url: str = ""

    def reply(self, body: dict[str, Any]) -> dict[str, Any]:
        entry: Entry = self.script.pop(0) if self.script else self.default
        value = entry(body) if callable(entry) else entry
        message: dict[str, Any] = {"role": "assistant", "content": None}
        finish = "stop"
        if isinstance(value, list):
            message["tool_calls"] = [
                {
                    "id": f"call_{len(self.requests)}_{i}",
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(args)},
                }
                for i, (name, args) in enumerate(value)
            ]
            finish = "tool_calls"
        else:
            message["content"] = str(value)
        prompt = sum(len(json.dumps(m)) for m in body.get("messages", [])) // 4
        completion = len(json.dumps(message)) // 4
        return {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "stub"),
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            },
        }

    def all_text(self) -> str:
        """Every request as received, for "this never left the machine" assertions."""
        return "\n".join(b.decode("utf-8", "replace") for b in self.raw)


def _app(stub: OpenAIStub) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def completions(request: Request) -> dict[str, Any]:
        raw = await request.body()
        body = json.loads(raw)
        stub.raw.append(raw)
        stub.requests.append(body)
        return stub.reply(body)

    return app


@contextmanager
def serve_openai_stub(script: list[Entry] | None = None) -> Iterator[OpenAIStub]:
    stub = OpenAIStub(script=list(script or []))
    with serve_asgi(_app(stub), lifespan="off") as url:
        stub.base_url = f"{url}/v1"
        yield stub


__all__ = ["Entry", "OpenAIStub", "serve_openai_stub"]
