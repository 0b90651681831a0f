"""From an incident to concrete actions: match playbooks, gather evidence, fill params.

The planner decides nothing about risk itself: every action's tier comes from
:func:`tools.runbooks.policy.decide`. Without a root cause it plans notifications only,
whatever a playbook says, because changing systems on a guess is how outages grow.
"""

from __future__ import annotations

import json
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, Field, ValidationError

from tools.nodes import NodeRef
from tools.runbooks.context import RemediationContext
from tools.runbooks.diagnosis import DiagnosisRunner
from tools.runbooks.models import PlannedAction, SkippedAction
from tools.runbooks.policy import PolicyConfig, decide
from tools.runbooks.schema import ActionSpec, HttpRequestSpec, Playbook
from tools.runbooks.templating import TemplateError, render


class Plan(BaseModel):
    incident_id: int
    matched: list[str] = Field(default_factory=list)
    actions: list[PlannedAction] = Field(default_factory=list)
    skipped: list[SkippedAction] = Field(default_factory=list)
    evidence: dict[str, dict[str, Any]] = Field(default_factory=dict)


def why_not(playbook: Playbook, context: RemediationContext) -> str | None:
    """None when the playbook applies to the context, else the reason it does not."""
    trigger = playbook.trigger
    if context.root_cause is None:
        if not trigger.without_root_cause:
            return "no root cause and the playbook needs one"
        kinds = context.fault_kinds
        if trigger.any_fault or not kinds or set(kinds) & set(trigger.fault_kinds):
            return None
        return f"symptom kinds {kinds} not in {trigger.fault_kinds}"
    kind = context.root_cause_kind
    if not trigger.any_fault and kind not in trigger.fault_kinds:
        return f"root cause kind {kind} not in {trigger.fault_kinds}"
    if context.confidence < trigger.min_confidence:
        return f"confidence {context.confidence:.2f} < {trigger.min_confidence}"
    ref = NodeRef.parse(context.root_cause)
    if trigger.nodes and not any(
        sel.type in ("*", ref.type)
        and fnmatchcase(ref.namespace, sel.namespace)
        and fnmatchcase(ref.name, sel.name)
        for sel in trigger.nodes
    ):
        return f"{ref} matches no node selector"
    if trigger.catalog_kinds and context.root_cause_catalog_kind not in trigger.catalog_kinds:
        return f"catalog kind {context.root_cause_catalog_kind} not in {trigger.catalog_kinds}"
    return None


def plan(
    context: RemediationContext,
    playbooks: list[Playbook],
    *,
    diagnosis: DiagnosisRunner | None = None,
    policy: PolicyConfig | None = None,
) -> Plan:
    """Concrete actions for ``context``; duplicates across playbooks are planned once."""
    cfg = policy or PolicyConfig()
    out = Plan(incident_id=context.incident_id)
    base = context.template_vars()
    seen: dict[str, str] = {}
    for playbook in playbooks:
        if why_not(playbook, context) is not None:
            continue
        out.matched.append(playbook.id)
        evidence = _diagnose(playbook, base, diagnosis)
        out.evidence[playbook.id] = evidence
        for spec in playbook.actions:
            key = f"{playbook.id}/{spec.id}"
            if context.root_cause is None and spec.type != "notify_owner":
                out.skipped.append(
                    SkippedAction(
                        playbook=playbook.id,
                        action_id=spec.id,
                        reason="no root cause: only owners are notified",
                    )
                )
                continue
            try:
                action = _instantiate(playbook, spec, base | {"evidence": evidence}, evidence)
            except (TemplateError, ValidationError) as exc:
                out.skipped.append(
                    SkippedAction(playbook=playbook.id, action_id=spec.id, reason=str(exc))
                )
                continue
            fingerprint = _fingerprint(action)
            if fingerprint in seen:
                out.skipped.append(
                    SkippedAction(
                        playbook=playbook.id,
                        action_id=spec.id,
                        reason=f"same action as {seen[fingerprint]}",
                    )
                )
                continue
            seen[fingerprint] = key
            decision = decide(action.type, action.params, context, cfg)
            out.actions.append(action.model_copy(update={"decision": decision}))
    return out


def _diagnose(
    playbook: Playbook, variables: dict[str, Any], runner: DiagnosisRunner | None
) -> dict[str, Any]:
    evidence: dict[str, Any] = {}
    for step in playbook.diagnosis:
        try:
            params = render(step.params, variables)
        except TemplateError as exc:
            evidence[step.name] = {"error": str(exc)}
            continue
        if runner is None:
            evidence[step.name] = {"query": step.query, "params": params, "skipped": "no runner"}
        else:
            evidence[step.name] = runner.run(step.query, params)
    return evidence


def _instantiate(
    playbook: Playbook, spec: ActionSpec, variables: dict[str, Any], evidence: dict[str, Any]
) -> PlannedAction:
    params = render(spec.params, variables)
    scope = variables | {"params": params}
    prior = frozenset({"prior"})
    rollback = spec.rollback.model_dump(by_alias=True)
    if spec.rollback.http is not None:
        rollback["http"] = _http(spec.rollback.http, scope, keep=prior)
    return PlannedAction.model_validate(
        {
            "key": f"{playbook.id}/{spec.id}",
            "playbook": playbook.id,
            "action_id": spec.id,
            "type": spec.type,
            "executor": spec.executor,
            "description": render(spec.description, scope) if spec.description else "",
            "params": params,
            "http": _http(spec.http, scope) if spec.http else None,
            "capture": _http(spec.capture, scope) if spec.capture else None,
            "preconditions": [
                {"check": p.check, "params": render(p.params, scope)} for p in spec.preconditions
            ],
            "verification": spec.verification.model_dump()
            | {"params": render(spec.verification.params, scope)},
            "rollback": render(rollback, scope, keep_roots=prior),
            # Placeholder until policy decides; replaced before the plan is returned.
            "decision": {
                "tier": "high",
                "auto_apply_allowed": False,
                "reasons": [],
                "required_roles": [],
            },
            "evidence": evidence,
        }
    )


def _http(
    spec: HttpRequestSpec, variables: dict[str, Any], keep: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """Render a request; substituted path text is URL-quoted (namespaces hold ':' and '/')."""
    data = spec.model_dump(by_alias=True)
    data["path"] = render(spec.path, variables, keep_roots=keep, escape=lambda s: quote(s, safe=""))
    if spec.json_body is not None:
        data["json"] = render(spec.json_body, variables, keep_roots=keep)
    return data


def _fingerprint(action: PlannedAction) -> str:
    return json.dumps(
        [action.type, action.executor, action.params, action.http and action.http.path],
        sort_keys=True,
        default=str,
    )
