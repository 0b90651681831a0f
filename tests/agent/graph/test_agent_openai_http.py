"""The whole graph through the real client: ChatOpenAI over HTTP to a local
OpenAI-compatible stub. One narrative call per investigation, within the token budget,
tokens recorded; nothing personal from the telemetry is ever in a request; an ungrounded
reply is replaced by the narrator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.graph import AgentDeps, AgentResult, investigate_incident, open_checkpointer
from agent.llm import LLMSettings, chat_model_from_env
from agent.llm.narrator import narrate
from tests.helpers.hostile import PII, plant
from tests.helpers.openai_stub import OpenAIStub, serve_openai_stub
from tests.helpers.simstore import AT_US, Template, build_template, clone
from tools.incidents.investigate import investigate
from tools.runbooks.executors import ExecutorRegistry, InMemorySimulator, SimulatorExecutor
from tools.store import Store, open_store


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    return build_template(tmp_path_factory.mktemp("sim"), "expired_vendor_token")


@pytest.fixture
def hostile_store(template: Template, tmp_path: Path) -> Iterator[Store]:
    store = open_store(f"sqlite:///{clone(template, tmp_path)}")
    plant(store, AT_US)
    investigate(store, AT_US)
    yield store
    store.dispose()


def pack_of(request: dict[str, Any]) -> dict[str, Any]:
    """The evidence pack the investigator sent (the user message after its first line)."""
    user = request["messages"][-1]["content"]
    loaded: dict[str, Any] = json.loads(user.split("\n", 1)[1])
    return loaded


def grounded(request: dict[str, Any]) -> str:
    """A well-behaved model: it writes from the evidence it was given."""
    return narrate(pack_of(request))


def run(store: Store, stub: OpenAIStub, monkeypatch: pytest.MonkeyPatch) -> AgentResult:
    monkeypatch.setenv("FLOWSLEUTH_LLM_BASE_URL", stub.base_url)
    monkeypatch.setenv("FLOWSLEUTH_LLM_MODEL", "stub-model")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("FLOWSLEUTH_SECRET_DESTINATION_API_KEY", "new-key")
    executor = SimulatorExecutor(InMemorySimulator())
    registry = ExecutorRegistry()
    for name in ("simulator", "http", "sql"):
        registry.add(executor, as_name=name)
    deps = AgentDeps(
        store=store,
        executors=registry,
        model=chat_model_from_env(),
        now_us=AT_US,
        budget_tokens=LLMSettings().max_input_tokens,
    )
    with open_checkpointer(store) as saver:
        return investigate_incident(deps, 1, AT_US, saver)


def test_one_grounded_call_through_chat_openai(
    hostile_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve_openai_stub([grounded]) as stub:
        result = run(hostile_store, stub, monkeypatch)
    assert len(stub.requests) == 1
    request = stub.requests[0]
    assert request["model"] == "stub-model"
    assert "tools" not in request  # the narrative call can do nothing but write
    explanation = result.explanation or {}
    assert explanation["source"] == "llm", explanation.get("grounding_problems")
    assert explanation["citations"]
    usage = result.llm
    assert usage["calls"] == 1 and usage["model"] == "stub-model"
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0
    assert usage["estimated_input_tokens"] <= 8000
    # The estimate over-counts on purpose: what the server counted is below it.
    assert usage["input_tokens"] <= usage["estimated_input_tokens"]


def test_no_personal_data_reaches_the_llm(
    hostile_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve_openai_stub([grounded]) as stub:
        result = run(hostile_store, stub, monkeypatch)
    sent = stub.all_text()
    # The planted error message did reach the evidence (so redaction had work to do) ...
    assert "401 Unauthorized for <email>" in sent
    assert "<ip>" in sent and "<phone>" in sent and "<card>" in sent
    # ... and none of the personal data itself left the machine.
    for secret in PII:
        assert secret not in sent
        assert json.dumps(secret)[1:-1] not in sent
    assert all(secret not in (result.explanation or {}).get("text", "") for secret in PII)


def test_an_invented_reply_is_replaced_by_the_narrator(
    hostile_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def inventive(request: dict[str, Any]) -> str:
        return grounded(request).replace("confidence", "confidence 100% (really 64%)", 1) + (
            "\nAlso dataset:s3://acme:warehouse.ghost_orders lost 12,345 rows [run:fake]."
        )

    with serve_openai_stub([inventive]) as stub:
        result = run(hostile_store, stub, monkeypatch)
    explanation = result.explanation or {}
    assert explanation["source"] == "narrator"
    problems = " ".join(explanation["grounding_problems"])
    assert "ghost_orders" in problems and "run:fake" in problems and "12,345" in problems
    assert result.llm["calls"] == 1
