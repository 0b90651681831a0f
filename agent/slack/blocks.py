"""Block Kit for an incident: one message per incident, rebuilt whole on every change.

The message is a pure function of the incident and its proposals, so "did anything
change?" is a digest comparison, and a message edited after a decision or a resolution
shows exactly what the store says. Everything from telemetry is escaped: a log line
holding ``<!channel>`` must not page a whole channel.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import orjson

from tools.incidents.model import IncidentView
from tools.runbooks.proposals import Proposal

APPROVE = "flowsleuth_approve"
REJECT = "flowsleuth_reject"
SEVERITY_ICON = {
    "critical": ":red_circle:",
    "high": ":large_orange_circle:",
    "medium": ":large_yellow_circle:",
    "low": ":white_circle:",
    "info": ":white_circle:",
}
MAX_EVIDENCE = 3
MAX_TEXT = 2900  # a section's text is capped at 3,000 characters by Slack
MAX_BLOCKS = 50  # Slack refuses a message of more blocks (invalid_blocks)


def escape(text: str) -> str:
    """Slack's three control characters; what remains cannot mention or link anything."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def short(node: str) -> str:
    """dataset:braze://acme:audience.x -> audience.x"""
    return node.rsplit(":", 1)[-1]


def money(value: float | None) -> str:
    return f"${value or 0:,.0f}"


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def _mrkdwn(text: str) -> dict[str, Any]:
    # verbatim: Slack would otherwise turn a bare URL, a #channel or a mention word
    # quoted from telemetry into a live link; only our own <url|label> links stay links.
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(_clip(text))}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [_mrkdwn(text[:MAX_TEXT])]}


def text_blocks(text: str) -> list[dict[str, Any]]:
    """A reply (already escaped) as verbatim sections, split at line ends to fit."""
    pieces: list[str] = []
    for line in text.split("\n"):
        pieces += [line[i : i + MAX_TEXT] for i in range(0, len(line), MAX_TEXT)] or [""]
    chunks: list[str] = []
    current: str | None = None
    for piece in pieces:
        if current is None:
            current = piece
        elif len(current) + 1 + len(piece) <= MAX_TEXT:
            current = f"{current}\n{piece}"
        else:
            chunks.append(current)
            current = piece
    chunks.append(current or " ")
    return [_section(chunk) for chunk in chunks[:MAX_BLOCKS]]


def summary_text(incident: IncidentView) -> str:
    """The notification text (what a phone shows; also the fallback for old clients)."""
    state = "RESOLVED" if incident.status == "resolved" else incident.severity.upper()
    tail = (
        f" ({incident.campaigns_affected} campaigns, "
        f"{money(incident.revenue_at_risk_per_day)}/day at risk)"
    )
    head = _clip(f"[{state}] Incident #{incident.id}: {escape(incident.title)}")
    return head[: MAX_TEXT - len(tail)] + tail


def incident_blocks(
    incident: IncidentView,
    proposals: Sequence[Proposal] = (),
    *,
    public_url: str | None = None,
) -> list[dict[str, Any]]:
    resolved = incident.status == "resolved"
    icon = ":white_check_mark:" if resolved else SEVERITY_ICON.get(incident.severity, "")
    head = "Resolved" if resolved else incident.severity.capitalize()
    blocks: list[dict[str, Any]] = [
        _section(f"{icon} *{head}: incident #{incident.id}*\n{escape(incident.title)}"),
        _context(
            f"opened {incident.opened_at}"
            + (f" · resolved {incident.resolved_at}" if incident.resolved_at else "")
            + f" · owners: {escape(', '.join(incident.owners) or 'none')}"
            + f" · {len(incident.symptoms)} symptoms"
        ),
    ]
    if incident.root_causes:
        cause = incident.root_causes[0]
        lines = [
            f"*Likely root cause* ({cause.confidence:.0%}): `{escape(cause.kind)}` at "
            f"`{escape(short(cause.node))}` since {cause.onset or 'an unknown time'}"
        ]
        lines += [f"• {escape(ev.text)}" for ev in cause.evidence[:MAX_EVIDENCE]]
        blocks.append(_section("\n".join(lines)))
    at_risk = [n for n in incident.at_risk if n.kind == "campaign"] or incident.at_risk
    named = ", ".join(escape(short(n.node)) for n in at_risk[:5])
    blocks.append(
        _section(
            f"*Blast radius*: {incident.campaigns_affected} campaigns, "
            f"{money(incident.revenue_at_risk_per_day)}/day revenue at risk"
            + (f"\n{named}" if named else "")
        )
    )
    footer: list[dict[str, Any]] = []
    if public_url:
        link = f"{public_url.rstrip('/')}/ui/incidents/{incident.id}"
        footer.append(_context(f"<{link}|Open incident #{incident.id} in flowsleuth>"))
    blocks += _fitting(proposals, resolved, MAX_BLOCKS - len(blocks) - len(footer))
    return blocks + footer


def _fitting(proposals: Sequence[Proposal], resolved: bool, room: int) -> list[dict[str, Any]]:
    """The proposals' blocks within ``room`` blocks: an incident re-investigated for days
    gathers proposals, and one block too many would stop the whole message. Those
    waiting for a person come first, then the newest decided ones; a note counts the
    rest."""
    rendered = {p.id: proposal_blocks(p, resolved=resolved) for p in proposals}
    if sum(len(b) for b in rendered.values()) <= room:
        return [block for p in proposals for block in rendered[p.id]]
    room -= 1  # for the note
    waiting = [p for p in proposals if p.status == "proposed"]
    others = sorted((p for p in proposals if p.status != "proposed"), key=lambda p: -p.id)
    shown: set[int] = set()
    for proposal in [*waiting, *others]:
        if len(rendered[proposal.id]) <= room:
            shown.add(proposal.id)
            room -= len(rendered[proposal.id])
    out = [block for p in proposals if p.id in shown for block in rendered[p.id]]
    hidden = len(proposals) - len(shown)
    out.append(_context(f"{hidden} more proposal(s) not shown: see `flowsleuth approvals list`"))
    return out


def proposal_blocks(proposal: Proposal, *, resolved: bool = False) -> list[dict[str, Any]]:
    """A proposal: what it does, its tier and blast radius, then buttons while it waits
    for a person, or who decided what and how it went once decided."""
    plan = proposal.plan
    radius = proposal.blast_radius
    text = (
        f"*Proposal #{proposal.id}* ({escape(proposal.tier)} impact, {proposal.status}): "
        f"{escape(plan.description or proposal.action_key)}\n"
        f"Blast radius: {radius.get('campaigns_affected', 0)} campaigns, "
        f"{money(radius.get('revenue_at_risk_per_day'))}/day · rollback: "
        f"{escape(str(proposal.rollback_plan.get('summary') or 'none'))}"
    )
    if proposal.dry_run is not None:
        text += f"\nDry run: {escape(proposal.dry_run.summary)}"
    blocks = [_section(text)]
    if proposal.status == "proposed" and not resolved:
        roles = ", ".join(plan.decision.required_roles) or "an owner"
        blocks.append(
            {
                "type": "actions",
                "block_id": f"proposal-{proposal.id}",
                "elements": [
                    _button("Approve", APPROVE, proposal.id, "primary"),
                    _button("Reject", REJECT, proposal.id, "danger"),
                ],
            }
        )
        blocks.append(_context(f"Needs: {escape(roles)} · expires {proposal.expires_at}"))
    elif proposal.status == "proposed":
        blocks.append(_context("The incident resolved first; decide in flowsleuth if needed."))
    elif proposal.decided_by:
        # The decision, not the current status: "Failed by alice" would blame the approver
        # for the outcome, and whoever rolled it back may be someone else.
        verdict = "Rejected" if proposal.status == "rejected" else "Approved"
        line = (
            f"{verdict} by *{escape(proposal.decided_by)}* at "
            f"{proposal.decided_at}: {escape(proposal.reason or '(no reason given)')}"
        )
        if proposal.status not in ("approved", "rejected"):
            line += f"\nStatus: {proposal.status.replace('_', ' ')}"
        if proposal.result:
            line += f"\nResult: {escape(str(proposal.result.get('detail') or proposal.status))}"
        if proposal.verification is not None:
            line += (
                f"\nVerification: {escape(proposal.verification.status)}"
                f" — {escape(proposal.verification.detail)}"
            )
        if proposal.rolled_back_by:
            line += (
                f"\nRolled back by *{escape(proposal.rolled_back_by)}* at {proposal.rolled_back_at}"
            )
        blocks.append(_context(line))
    elif proposal.status == "expired":
        blocks.append(_context(f"Expired {proposal.expires_at} without a decision."))
    return blocks


def _button(label: str, action_id: str, proposal_id: int, style: str) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": label},
        "action_id": action_id,
        "value": str(proposal_id),
        "style": style,
    }
    if action_id == APPROVE:
        button["confirm"] = {
            "title": {"type": "plain_text", "text": f"Approve proposal #{proposal_id}?"},
            "text": _mrkdwn("flowsleuth will apply it and verify the result."),
            "confirm": {"type": "plain_text", "text": "Approve"},
            "deny": {"type": "plain_text", "text": "Cancel"},
        }
    return button


def digest(text: str, blocks: list[dict[str, Any]]) -> str:
    return hashlib.sha256(orjson.dumps([text, blocks], option=orjson.OPT_SORT_KEYS)).hexdigest()
