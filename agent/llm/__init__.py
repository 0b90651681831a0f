"""The language side of the investigator: model set-up, budgets, grounding, narration."""

from agent.llm.budget import BudgetError, estimate_tokens, fit_pack
from agent.llm.explain import Explanation, LLMUsage, explain
from agent.llm.grounding import GroundingResult, check, facts_from_pack
from agent.llm.model import LLMConfigError, LLMSettings, chat_model_from_env
from agent.llm.narrator import narrate

__all__ = [
    "BudgetError",
    "Explanation",
    "GroundingResult",
    "LLMConfigError",
    "LLMSettings",
    "LLMUsage",
    "chat_model_from_env",
    "check",
    "estimate_tokens",
    "explain",
    "facts_from_pack",
    "fit_pack",
    "narrate",
]
