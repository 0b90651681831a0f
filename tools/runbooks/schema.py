"""The playbook schema: what a ``playbooks/*.yaml`` file may say, checked by pydantic.

Every vocabulary here is closed (action types, executors, diagnosis queries,
precondition checks, verification signals): a playbook can combine vetted capabilities
but never invent one, and a typo is a load error rather than a silent no-op.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tools.faults import FAULT_KINDS, FaultKind
from tools.runbooks.templating import placeholders
from tools.timeutil import parse_duration_us

ActionType = Literal[
    "retry_job",
    "backfill_partition",
    "rerun_sync",
    "refresh_credential",
    "fallback_audience_snapshot",
    "rehydrate_table_from_snapshot",
    "pause_campaign",
    "quarantine_batch",
    "notify_owner",
]
ACTION_TYPES: tuple[str, ...] = get_args(ActionType)

ExecutorName = Literal["http", "sql", "simulator"]

# Which executors can carry out which action: SQL cannot retry an orchestrator job, and
# an HTTP call cannot swap a warehouse view. The simulator stands in for every system.
EXECUTORS_FOR: dict[str, frozenset[str]] = {
    "retry_job": frozenset({"http", "simulator"}),
    "backfill_partition": frozenset({"http", "simulator"}),
    "rerun_sync": frozenset({"http", "simulator"}),
    "refresh_credential": frozenset({"http", "simulator"}),
    "fallback_audience_snapshot": frozenset({"sql", "simulator"}),
    "rehydrate_table_from_snapshot": frozenset({"sql", "simulator"}),
    "pause_campaign": frozenset({"http", "simulator"}),
    "quarantine_batch": frozenset({"sql", "http", "simulator"}),
    "notify_owner": frozenset({"http", "simulator"}),
}

# Parameters each SQL action needs; the SQL executor reads exactly these.
SQL_PARAMS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    # action: (required, at least one of)
    "fallback_audience_snapshot": (frozenset({"view"}), frozenset({"snapshot", "snapshot_prefix"})),
    "rehydrate_table_from_snapshot": (
        frozenset({"table"}),
        frozenset({"snapshot", "snapshot_prefix"}),
    ),
    "quarantine_batch": (frozenset({"table", "column", "start", "end"}), frozenset()),
}

DiagnosisQuery = Literal[
    "runs", "metrics", "lineage.impact", "lineage.upstream", "anomalies", "catalog"
]
PreconditionCheck = Literal[
    "node_exists",
    "no_run_in_progress",
    "secret_present",
    "target_configured",
    "table_exists",
    "view_exists",
    "snapshot_exists",
    "window_max_days",
]
# Checks the action's own executor answers (they look at the system it acts on).
EXECUTOR_CHECKS = frozenset({"target_configured", "table_exists", "view_exists", "snapshot_exists"})
SignalKind = Literal["run_succeeded", "metric", "anomaly_resolved", "executor", "none"]

# Names a placeholder may start with (RemediationContext.template_vars plus these).
TEMPLATE_ROOTS = frozenset(
    {
        "incident_id",
        "root_cause",
        "confidence",
        "symptoms",
        "impacted",
        "at_risk",
        "at_risk_by_kind",
        "revenue_at_risk_per_day",
        "campaigns_affected",
        "owners",
        "owners_text",
        "window",
        "detected_at",
        "evidence",
        "params",
        "prior",
    }
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NodeSelector(_Strict):
    """Glob patterns (fnmatch) on the root cause's node id parts."""

    type: Literal["dataset", "job", "*"] = "*"
    namespace: str = "*"
    name: str = "*"


class Trigger(_Strict):
    fault_kinds: list[FaultKind] = Field(default_factory=list)
    any_fault: bool = False
    nodes: list[NodeSelector] = Field(default_factory=list)
    catalog_kinds: list[str] = Field(default_factory=list)
    min_confidence: float = Field(0.0, ge=0.0, le=1.0)
    # With no root cause only such playbooks are considered, and only for notify_owner.
    without_root_cause: bool = False

    @model_validator(mode="after")
    def _some_kind(self) -> Trigger:
        if not self.fault_kinds and not self.any_fault:
            raise ValueError("trigger needs fault_kinds (or any_fault: true)")
        return self


class DiagnosisStep(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    query: DiagnosisQuery
    params: dict[str, Any] = Field(default_factory=dict)


class HttpRequestSpec(_Strict):
    """One HTTP call. ``target`` is a logical service; its URL and token come from Secrets."""

    target: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    path: str = Field(pattern=r"^/")
    json_body: dict[str, Any] | None = Field(None, alias="json")
    # Body fields filled from Secrets at send time only: never stored, shown as '***'.
    secret_fields: dict[str, str] = Field(default_factory=dict)


class Precondition(_Strict):
    check: PreconditionCheck
    params: dict[str, Any] = Field(default_factory=dict)


class Verification(_Strict):
    signal: SignalKind
    params: dict[str, Any] = Field(default_factory=dict)
    within: str = "1h"
    poll: str = "5m"

    @field_validator("within", "poll")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration_us(value)
        return value

    @model_validator(mode="after")
    def _signal_params(self) -> Verification:
        need = {
            "run_succeeded": {"job"},
            "metric": {"node", "metric", "op", "value"},
            "anomaly_resolved": {"node"},
        }.get(self.signal, set())
        missing = sorted(need - set(self.params))
        if missing:
            raise ValueError(f"verification signal {self.signal!r} needs params {missing}")
        op = self.params.get("op")
        if self.signal == "metric" and op not in ("<", "<=", ">", ">=", "==", "!="):
            raise ValueError(f"verification op {op!r} must be one of < <= > >= == !=")
        return self


class Rollback(_Strict):
    """How an action is undone.

    ``restore``: the executor puts back the prior state it captured (SQL view definition,
    table rows). ``request``: an inverse HTTP call, which may use ``{{ prior.* }}``.
    ``none``: not reversible, with the reason stated for the approver.
    """

    mode: Literal["restore", "request", "none"]
    http: HttpRequestSpec | None = None
    reason: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> Rollback:
        if self.mode == "request" and self.http is None:
            raise ValueError("rollback mode 'request' needs an http request")
        if self.mode == "none" and not self.reason:
            raise ValueError("rollback mode 'none' needs a reason (why it cannot be undone)")
        return self


class ActionSpec(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    type: ActionType
    executor: ExecutorName
    description: str = ""
    params: dict[str, Any] = Field(default_factory=dict)
    http: HttpRequestSpec | None = None
    capture: HttpRequestSpec | None = None  # read prior state before acting (http only)
    preconditions: list[Precondition] = Field(default_factory=list)
    verification: Verification
    rollback: Rollback

    @model_validator(mode="after")
    def _binding(self) -> ActionSpec:
        allowed = EXECUTORS_FOR[self.type]
        if self.executor not in allowed:
            raise ValueError(
                f"action {self.type!r} cannot run on executor {self.executor!r} "
                f"(allowed: {', '.join(sorted(allowed))})"
            )
        if self.executor == "http" and self.http is None:
            raise ValueError(f"action {self.id!r} runs over http and needs an 'http' request")
        if self.executor != "http" and (self.http or self.capture):
            raise ValueError(f"action {self.id!r}: 'http'/'capture' only apply to executor http")
        if self.executor == "sql":
            required, one_of = SQL_PARAMS[self.type]
            missing = sorted(required - set(self.params))
            if missing:
                raise ValueError(f"sql action {self.type!r} needs params {missing}")
            if one_of and not one_of & set(self.params):
                raise ValueError(f"sql action {self.type!r} needs one of {sorted(one_of)}")
        if self.rollback.mode == "request" and self.executor != "http":
            raise ValueError("rollback mode 'request' is only for executor http")
        if self.rollback.mode == "restore" and self.executor == "http":
            raise ValueError(
                "http actions roll back with mode 'request' (an inverse call, which may use "
                "{{ prior.* }} read by 'capture'), not 'restore'"
            )
        return self


class Playbook(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_.-]*$")
    title: str
    description: str = ""
    trigger: Trigger
    diagnosis: list[DiagnosisStep] = Field(default_factory=list)
    actions: list[ActionSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Playbook:
        names = [d.name for d in self.diagnosis]
        _no_duplicates(names, "diagnosis step")
        _no_duplicates([a.id for a in self.actions], "action id")
        if self.trigger.without_root_cause and not any(
            a.type == "notify_owner" for a in self.actions
        ):
            raise ValueError("without_root_cause playbooks may only notify: add notify_owner")
        evidence = set(names)
        for step in self.diagnosis:
            _check_placeholders(step.params, evidence, f"diagnosis {step.name}")
        for action in self.actions:
            _check_placeholders(
                action.model_dump(by_alias=True, exclude={"rollback"}), evidence, action.id
            )
            _check_placeholders(
                action.rollback.model_dump(by_alias=True), evidence, action.id, allow_prior=True
            )
        return self

    @property
    def fault_kinds(self) -> tuple[str, ...]:
        return FAULT_KINDS if self.trigger.any_fault else tuple(self.trigger.fault_kinds)


def _no_duplicates(items: list[str], what: str) -> None:
    seen: set[str] = set()
    for item in items:
        if item in seen:
            raise ValueError(f"duplicate {what} {item!r}")
        seen.add(item)


def _check_placeholders(
    value: Any, evidence: set[str], where: str, *, allow_prior: bool = False
) -> None:
    """Reject placeholders that could never resolve, at load time rather than at 3 a.m."""
    for path in placeholders(value):
        parts = path.split(".")
        if parts[0] == "prior" and not allow_prior:
            raise ValueError(f"{where}: {{{{ {path} }}}}: 'prior' is only known in a rollback")
        if parts[0] not in TEMPLATE_ROOTS:
            raise ValueError(
                f"{where}: placeholder {{{{ {path} }}}} starts with unknown name {parts[0]!r} "
                f"(known: {', '.join(sorted(TEMPLATE_ROOTS))})"
            )
        if parts[0] == "evidence" and (len(parts) < 2 or parts[1] not in evidence):
            raise ValueError(f"{where}: {{{{ {path} }}}} names no diagnosis step")
