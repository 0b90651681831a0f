"""Explanations: the narrator without a model, the LLM's when grounded, the narrator again
when the LLM invents, fails or would overrun the budget; PII never reaches the model."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage

from agent.llm.budget import BudgetError, estimate_tokens, fit_pack, render
from agent.llm.explain import explain
from agent.llm.model import LLMConfigError, LLMSettings, chat_model_from_env
from agent.llm.narrator import narrate
from tests.agent.llm.test_llm_grounding import GOOD, pack
from tests.helpers.fake_chat import ScriptedChatModel


def test_without_a_model_the_narrator_explains() -> None:
    explanation, usage = explain(pack(), None)
    assert explanation.source == "narrator" and explanation.fallback_reason is None
    assert usage.calls == 0 and usage.input_tokens == 0


def test_a_grounded_llm_explanation_is_used_once() -> None:
    model = ScriptedChatModel(script=[GOOD])
    explanation, usage = explain(pack(), model)
    assert explanation.source == "llm" and explanation.text == GOOD
    assert usage.calls == 1 and len(model.calls) == 1
    assert usage.input_tokens > 0 and usage.estimated_input_tokens <= usage.budget_tokens
    system, human = model.calls[0]
    assert "never instructions" in str(system.content)
    assert "[anomaly:12]" in str(human.content) or "anomaly:12" in str(human.content)


def test_an_ungrounded_llm_explanation_falls_back_to_the_narrator() -> None:
    invented = GOOD.replace("93%", "99%").replace("stg_contacts", "stg_imaginary")
    explanation, usage = explain(pack(), ScriptedChatModel(script=[invented]))
    assert explanation.source == "narrator"
    assert explanation.fallback_reason == "the LLM's explanation failed the grounding check"
    assert any("stg_imaginary" in p for p in explanation.grounding_problems)
    assert explanation.text == narrate(pack())
    assert usage.calls == 1


def test_a_failing_endpoint_falls_back_to_the_narrator() -> None:
    def boom(_: list[BaseMessage]) -> AIMessage:
        raise ConnectionError("endpoint down")

    explanation, usage = explain(pack(), ScriptedChatModel(script=[boom]))
    assert explanation.source == "narrator"
    assert (
        explanation.fallback_reason is not None and "endpoint down" in explanation.fallback_reason
    )
    assert usage.calls == 1


def test_personal_data_is_redacted_before_the_model_sees_it() -> None:
    leaky = pack()
    leaky["evidence"][0]["text"] += (
        " while syncing jane.doe@example.com from 203.0.113.7, call +44 20 7946 0958, "
        "card 4111 1111 1111 1111"
    )
    model = ScriptedChatModel(script=[GOOD])
    explain(leaky, model)
    sent = " ".join(str(m.content) for m in model.calls[0])
    for secret in ("jane.doe@example.com", "203.0.113.7", "7946 0958", "4111 1111 1111 1111"):
        assert secret not in sent
    assert "<email>" in sent and "<ip>" in sent and "<card>" in sent


def test_the_pack_is_trimmed_to_the_budget() -> None:
    big = pack()
    big["evidence"] = [
        {"id": f"log:{i}", "family": "logs", "node": "x", "text": "error " * 60, "data": {}}
        for i in range(300)
    ]
    fitted, size = fit_pack(big, 2000)
    assert size <= 2000 and estimate_tokens(render(fitted)) == size
    assert fitted["omitted"]["evidence"] > 0
    assert fitted["hypotheses"] == big["hypotheses"]  # the reasoning survives trimming
    model = ScriptedChatModel(script=[GOOD])
    _, usage = explain(big, model, budget_tokens=3000)
    assert usage.estimated_input_tokens <= 3000


def test_an_impossible_budget_is_an_error_not_a_truncated_prompt() -> None:
    with pytest.raises(BudgetError, match="budget is 50"):
        fit_pack(pack(), 50)
    explanation, usage = explain(pack(), ScriptedChatModel(script=[GOOD]), budget_tokens=600)
    assert explanation.source == "narrator" and usage.calls == 0
    assert explanation.fallback_reason is not None and "not sent" in explanation.fallback_reason


def test_model_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("FLOWSLEUTH_LLM_MODEL", "FLOWSLEUTH_LLM_BASE_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    assert chat_model_from_env() is None
    monkeypatch.setenv("FLOWSLEUTH_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    with pytest.raises(LLMConfigError, match="FLOWSLEUTH_LLM_MODEL"):
        chat_model_from_env()
    monkeypatch.setenv("FLOWSLEUTH_LLM_MODEL", "local-model")
    model: Any = chat_model_from_env()
    assert model.model_name == "local-model" and model.openai_api_base == "http://127.0.0.1:9/v1"
    assert model.use_responses_api is False
    with pytest.raises(LLMConfigError, match="OPENAI_API_KEY"):
        chat_model_from_env(LLMSettings(model="gpt-x", base_url=None))
