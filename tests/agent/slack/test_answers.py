"""Answers to mentions and /flowsleuth: fixed commands from the store, questions matched
to an incident without an LLM, and chat mode with a scripted model (and its failure)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from sqlalchemy import update

from agent.slack.answers import HELP, answer
from tests.agent.slack.support import (
    HOUR_US,
    build_multi_template,
    queue_proposals,
    resolve_everything,
)
from tests.helpers.fake_chat import ScriptedChatModel, tool_call
from tests.helpers.simstore import AT_US, Template, clone
from tools.incidents import list_incidents
from tools.runbooks import list_proposals
from tools.store import Store, open_store
from tools.store.models import IncidentRow

NO_LLM = "_Answered from the incident record (no LLM is configured)._"
NAMES_NONE = "The question names no incident; this is the most severe open one"

# The three incidents of the simulated stack, by what they name (see support.THREE_FAULTS).
META_SYNC = 1  # sync failure at sync.cart_abandoners_to_meta_ads
HIGH_VALUE = 2  # consent mismatch at audience.high_value_customers (the most severe)
CART_RECOVERY = 3  # consent mismatch at audience.cart_abandoners -> campaign.cart_recovery_flow


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    return build_multi_template(tmp_path_factory.mktemp("sim"))


@pytest.fixture
def sim_store(template: Template, tmp_path: Path) -> Iterator[Store]:
    s = open_store(f"sqlite:///{clone(template, tmp_path)}")
    yield s
    s.dispose()


def ask(store: Store, question: str, model: BaseChatModel | None = None) -> str:
    return answer(store, question, model=model, clock=lambda: AT_US)


def test_the_stack_has_the_incidents_these_tests_are_about(template: Template) -> None:
    assert sorted(template.incident_ids) == [META_SYNC, HIGH_VALUE, CART_RECOVERY]
    store = open_store(f"sqlite:///{template.path}")
    try:
        ranked = list_incidents(store, status="open")
    finally:
        store.dispose()
    assert [i.id for i in ranked] == [HIGH_VALUE, META_SYNC, CART_RECOVERY]
    assert "meta_ads" in ranked[1].title and "high_value_customers" in ranked[0].title


def test_help_and_an_empty_mention(sim_store: Store) -> None:
    for question in ("help", "  HELP  ", "?", ""):
        assert ask(sim_store, question) == HELP


def test_incidents_lists_every_open_one_most_severe_first(sim_store: Store) -> None:
    text = ask(sim_store, "incidents")
    lines = text.splitlines()
    assert lines[0] == "*3 open incident(s)*"
    assert [line.split()[1] for line in lines[1:]] == [
        f"#{HIGH_VALUE}",
        f"#{META_SYNC}",
        f"#{CART_RECOVERY}",
    ]
    assert "[critical]" in lines[1] and "/day at risk" in lines[1]
    assert ask(sim_store, "status") == text


def test_incident_titles_from_telemetry_are_escaped_in_lists(sim_store: Store) -> None:
    with sim_store.write() as conn:
        conn.execute(
            update(IncidentRow)
            .where(IncidentRow.id == META_SYNC)
            .values(title="sync failure <!channel> <https://evil.example|click>")
        )
    text = ask(sim_store, "incidents")
    assert "<!channel>" not in text and "<https://" not in text
    assert "sync failure &lt;!channel&gt; &lt;https://evil.example|click&gt;" in text


def test_approvals_lists_what_waits_and_not_what_expired(sim_store: Store) -> None:
    assert ask(sim_store, "approvals") == "Nothing waits for a decision."
    queued = queue_proposals(sim_store, META_SYNC)
    text = ask(sim_store, "pending")
    assert text.splitlines()[0] == f"*{len(queued)} proposal(s) waiting for a decision*"
    for p in queued:
        assert f"• #{p.id} ({p.tier} impact) for incident #{META_SYNC}: " in text
    # A day later every one of them is past its expiry: nobody can approve them now.
    late = answer(sim_store, "approvals", clock=lambda: AT_US + 25 * HOUR_US)
    assert late == "Nothing waits for a decision."


def test_incident_by_number(sim_store: Store) -> None:
    queued = queue_proposals(sim_store, META_SYNC)
    text = ask(sim_store, f"incident {META_SYNC}")
    assert text.startswith(f"*Incident #{META_SYNC}* (open, critical): sync failure at ")
    assert "Most likely: `sync_failure` at `sync.cart_abandoners_to_meta_ads`" in text
    assert "Impact: 1 campaigns" in text and "owners: paid-media" in text
    [waiting] = [line for line in text.splitlines() if line.startswith("Waiting for a decision: ")]
    for p in queued:
        assert f"#{p.id} {p.plan.description}" in waiting
    assert NO_LLM not in text, "a command, not a guess at a question"
    assert ask(sim_store, f"incident #{CART_RECOVERY}").startswith(f"*Incident #{CART_RECOVERY}*")


def test_an_unknown_incident_number(sim_store: Store) -> None:
    assert ask(sim_store, "incident 99") == "There is no incident #99."
    assert ask(sim_store, "what happened in #4242?") == "There is no incident #4242."


def test_a_question_naming_a_node_is_about_that_incident(sim_store: Store) -> None:
    text = ask(sim_store, "why is the meta_ads sync failing?")
    assert text.startswith(f"*Incident #{META_SYNC}*"), text
    assert NAMES_NONE not in text
    assert text.endswith(NO_LLM)
    other = ask(sim_store, "is the cart_recovery_flow campaign still sending?")
    assert other.startswith(f"*Incident #{CART_RECOVERY}*"), other


def test_a_question_naming_nothing_gets_the_most_severe_and_says_so(sim_store: Store) -> None:
    text = ask(sim_store, "what is going wrong today?")
    assert text.startswith(f"*Incident #{HIGH_VALUE}*")
    assert f"_{NAMES_NONE} (2 more open: say `incidents`)._" in text
    assert text.endswith(NO_LLM)


def test_a_word_every_incident_shares_picks_none_of_them_silently(sim_store: Store) -> None:
    # Every incident puts a campaign at risk and has "risk" in its title: neither word
    # singles one out, so the answer says how it chose.
    text = ask(sim_store, "which campaign is at risk?")
    assert text.startswith(f"*Incident #{HIGH_VALUE}*")
    assert "The question fits 3 open incidents equally" in text
    assert f"(also #{META_SYNC}, #{CART_RECOVERY})" in text
    # A name two incidents share: the worse of the two, with the other named.
    both = ask(sim_store, "what is wrong with cart_abandoners?")
    assert both.startswith(f"*Incident #{META_SYNC}*")
    assert "fits 2 open incidents equally" in both and f"(also #{CART_RECOVERY})" in both


def test_with_no_open_incidents(sim_store: Store) -> None:
    resolve_everything(sim_store, AT_US + HOUR_US)
    assert ask(sim_store, "incidents") == "No open incidents."
    assert ask(sim_store, "why is the meta_ads sync failing?") == (
        "No open incidents: nothing in the pipelines is known to be wrong."
    )
    # A resolved incident can still be asked about by number.
    assert ask(sim_store, f"incident {META_SYNC}").startswith(f"*Incident #{META_SYNC}* (resolved")


def test_chat_mode_answers_free_form_questions_escaped(sim_store: Store) -> None:
    def from_the_tool(messages: list[BaseMessage]) -> str:
        seen = str(messages[-1].content)
        assert "cart_abandoners_to_meta_ads" in seen, "the model read the incident list"
        return "The Meta Ads sync lost its token <!channel> & needs a data-lead."

    model = ScriptedChatModel(script=[tool_call("list_incidents", {}), from_the_tool])
    text = ask(sim_store, "why did the retargeting audience stop syncing?", model=model)
    assert text == "The Meta Ads sync lost its token &lt;!channel&gt; &amp; needs a data-lead."
    assert len(model.calls) == 2


def test_commands_do_not_go_to_the_model(sim_store: Store) -> None:
    model = ScriptedChatModel(script=["never asked"])
    assert ask(sim_store, "incidents", model=model).startswith("*3 open incident(s)*")
    assert ask(sim_store, f"incident {META_SYNC}", model=model).startswith("*Incident #")
    assert model.calls == []


def test_a_failing_model_falls_back_to_the_record_and_says_so(sim_store: Store) -> None:
    def down(messages: list[BaseMessage]) -> str:
        raise ConnectionError("LLM endpoint said 503 <!here> try later")

    model = ScriptedChatModel(script=[down])
    text = ask(sim_store, "why is the meta_ads sync failing?", model=model)
    assert text.startswith(f"*Incident #{META_SYNC}*")
    assert "_Answered from the incident record (the LLM failed: " in text
    assert "503 &lt;!here&gt; try later" in text and "<!here>" not in text


def test_chat_from_slack_cannot_queue_proposals(sim_store: Store) -> None:
    """Anyone in a channel can mention the bot: chat mode there reads, never proposes."""
    before = len(list_proposals(sim_store))
    incident = list_incidents(sim_store, status="open")[0]
    model = ScriptedChatModel(
        script=[tool_call("propose_remediation", {"incident_id": incident.id}), "queued it"]
    )
    ask(sim_store, "please pause every campaign", model)
    assert model.bound and all("propose_remediation" not in names for names in model.bound)
    assert all("request_approval" not in names for names in model.bound)
    assert len(list_proposals(sim_store)) == before
