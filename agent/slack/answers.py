"""Answers to ``@flowsleuth ...`` and ``/flowsleuth ...``.

A few words are commands with fixed answers from the store (``help``, ``incidents``,
``incident 12``, ``approvals``). Anything else is a question: chat mode answers it when
an LLM is configured; without one, the answer is the incident record the question is
most likely about (named by ``#12``, by a node name, or else the most severe open one),
said as such. Either way it is text for Slack, escaped, never a command to run.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from langchain_core.language_models import BaseChatModel

from agent.slack.blocks import escape, money, short
from tools.incidents import UnknownIncidentError, get_incident, list_incidents
from tools.incidents.model import IncidentView
from tools.runbooks import list_proposals
from tools.store.db import Store
from tools.store.models import now_micros

log = logging.getLogger(__name__)

HELP = (
    "Ask me about the pipelines, e.g. `@flowsleuth why did the churn audience shrink?`\n"
    "Commands: `incidents` (open incidents), `incident <id>`, `approvals` (waiting for a "
    "decision), `help`. Approve or reject with the buttons on an incident's message."
)
INCIDENT_REF = re.compile(r"(?:#|\bincident\s+)(\d{1,9})\b", re.IGNORECASE)
MAX_ANSWER = 6000  # split into sections of Slack's 3,000-character limit
MAX_EXPLANATION = 3000
MAX_LISTED = 20  # lines in a list answer; the rest are counted
MAX_OPEN = 1000  # open incidents considered (list_incidents takes the newest ids)


def answer(
    store: Store,
    question: str,
    *,
    model: BaseChatModel | None = None,
    clock: Callable[[], int] = now_micros,
) -> str:
    text = question.strip()
    word = text.lower().split(maxsplit=1)[0] if text else "help"
    if word in ("help", "?"):
        return HELP
    if word in ("incidents", "status"):
        return open_incidents(store)
    if word in ("approvals", "pending"):
        return pending_approvals(store, now_us=clock())
    if word == "incident" and INCIDENT_REF.search(text):
        return about_incident(store, text)
    if model is not None:
        return _chat(store, text, model, clock)
    return about_incident(store, text, no_llm=True)


def _chat(store: Store, question: str, model: BaseChatModel, clock: Callable[[], int]) -> str:
    # Imported here: the agent framework and MCP client take seconds to load.
    from agent.chat import ask
    from tools.server.mcp import build_mcp_server

    # Read-only: anyone in a channel can mention the bot, and a proposal queued from
    # here would carry no accountable requester (the web and CLI chat may queue).
    server = build_mcp_server(store, enable_writes=False, clock=clock)
    try:
        reply = ask(question, model, server)
    except Exception as exc:  # the model's endpoint is outside our control
        log.warning("slack: chat mode failed, answering from the record: %s", exc)
        return about_incident(store, question, no_llm=True, why=f"the LLM failed: {exc}"[:300])
    return escape(reply.answer)[:MAX_ANSWER]


def open_incidents(store: Store) -> str:
    # All of them, ranked: list_incidents' limit keeps the newest ids, which would drop
    # an old critical incident from the list and miscount the rest.
    incidents = list_incidents(store, status="open", limit=MAX_OPEN)
    if not incidents:
        return "No open incidents."
    return _bulleted(
        f"*{len(incidents)} open incident(s)*",
        [
            f"• #{inc.id} [{inc.severity}] {escape(inc.title)} — {inc.campaigns_affected} "
            f"campaigns, {money(inc.revenue_at_risk_per_day)}/day at risk"
            for inc in incidents
        ],
        "…and {} less severe ones.",
    )


def pending_approvals(store: Store, *, now_us: int | None = None) -> str:
    now = now_micros() if now_us is None else now_us
    # A proposal past its expiry is still "proposed" until something expires it, but
    # nobody can approve it any more.
    pending = [
        p for p in list_proposals(store, status="proposed", limit=500) if p.expires_at_us > now
    ]
    if not pending:
        return "Nothing waits for a decision."
    return _bulleted(
        f"*{len(pending)} proposal(s) waiting for a decision*",
        [
            f"• #{p.id} ({p.tier} impact) for incident #{p.incident_id}: "
            f"{escape(p.plan.description or p.action_key)}; expires {p.expires_at}"
            for p in pending
        ],
        "…and {} older ones: see `flowsleuth approvals`.",
    )


def _bulleted(header: str, items: list[str], more: str) -> str:
    """The header, the first MAX_LISTED items, and ``more`` counting the rest."""
    lines = [header, *items[:MAX_LISTED]]
    if len(items) > MAX_LISTED:
        lines.append(more.format(len(items) - MAX_LISTED))
    return "\n".join(lines)


def about_incident(
    store: Store, question: str, *, no_llm: bool = False, why: str | None = None
) -> str:
    incident, how = _pick(store, question)
    if incident is None:
        return how
    lines = [f"*Incident #{incident.id}* ({incident.status}, {incident.severity}): "
             f"{escape(incident.title)}"]
    if how:
        lines.append(f"_{how}_")
    for rank, cause in enumerate(incident.root_causes[:2], start=1):
        label = "Most likely" if rank == 1 else "Alternative"
        lines.append(
            f"{label}: `{escape(cause.kind)}` at `{escape(short(cause.node))}` "
            f"({cause.confidence:.0%} confidence, since {cause.onset or 'unknown'})"
        )
        lines += [f"  • {escape(ev.text)}" for ev in cause.evidence[: 3 if rank == 1 else 1]]
    if not incident.root_causes:
        lines.append("No root cause is ranked yet.")
    explained = _explanation(store, incident.id)
    if explained:
        lines.append(f"*The investigation's explanation*\n{escape(explained)}")
    lines.append(
        f"Impact: {incident.campaigns_affected} campaigns, "
        f"{money(incident.revenue_at_risk_per_day)}/day revenue at risk; owners: "
        f"{escape(', '.join(incident.owners) or 'none')}"
    )
    waiting = [p for p in list_proposals(store, incident_id=incident.id) if p.status == "proposed"]
    if waiting:
        lines.append(
            "Waiting for a decision: "
            + "; ".join(f"#{p.id} {escape(p.plan.description or p.action_key)}" for p in waiting)
        )
    if no_llm:
        # ``why`` may quote an error from the LLM endpoint: outside text, so escaped.
        lines.append(
            f"_Answered from the incident record ({escape(why or 'no LLM is configured')})._"
        )
    return "\n".join(lines)[:MAX_ANSWER]


def _explanation(store: Store, incident_id: int) -> str | None:
    """What the investigator wrote about the incident (known / suspected / impact / what
    to do), when an investigation ran; the answer stands without it."""
    # Imported here: LangGraph takes a while to load, and only this needs it.
    from agent.graph.run import saved_explanation

    try:
        found = saved_explanation(store, incident_id)
    except Exception as exc:  # an unreadable checkpoint must not lose the answer
        log.warning("slack: no explanation for incident %s: %s", incident_id, exc)
        return None
    text = (found or {}).get("text")
    return str(text)[:MAX_EXPLANATION] if text else None


def _pick(store: Store, question: str) -> tuple[IncidentView | None, str]:
    """The incident a question is about, and how it was chosen (shown to the asker)."""
    ref = INCIDENT_REF.search(question)
    if ref:
        try:
            return get_incident(store, int(ref.group(1))), ""
        except UnknownIncidentError:
            return None, f"There is no incident #{ref.group(1)}."
    candidates = list_incidents(store, status="open", limit=MAX_OPEN)
    if not candidates:
        return None, "No open incidents: nothing in the pipelines is known to be wrong."
    words = {w for w in re.findall(r"[a-z0-9_]{4,}", question.lower())}
    hits: dict[int, int] = {}
    for inc in candidates:
        # Node names only: titles hold words every incident shares ("failure", "risk"),
        # which would make a question naming nothing look like it named one.
        nodes = [*inc.impacted, *(n.node for n in inc.at_risk)]
        nodes += [c.node for c in inc.root_causes] + [a.node for a in inc.symptoms]
        names = {short(n).lower() for n in nodes}
        hits[inc.id] = sum(1 for w in words if any(w in name for name in names))
    most = max(hits.values())
    if most > 0:
        # candidates are ranked by severity, then revenue at risk: ties go to the worst.
        fits = [inc for inc in candidates if hits[inc.id] == most]
        if len(fits) == 1:
            return fits[0], ""
        others = ", ".join(f"#{inc.id}" for inc in fits[1:])
        return fits[0], (
            f"The question fits {len(fits)} open incidents equally; this is the most severe "
            f"of them (also {others})."
        )
    top = candidates[0]  # list_incidents ranks by severity, then revenue at risk
    more = f" ({len(candidates) - 1} more open: say `incidents`)" if len(candidates) > 1 else ""
    return top, f"The question names no incident; this is the most severe open one{more}."
