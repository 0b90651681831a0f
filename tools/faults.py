"""The fault vocabulary (TELEMETRY.md §7) every anomaly, root cause and playbook speaks."""

from __future__ import annotations

from typing import Literal, get_args

FaultKind = Literal[
    "job_failure",
    "late_data",
    "schema_drift",
    "volume_drop",
    "volume_spike",
    "null_spike",
    "duplicates",
    "consent_mismatch",
    "event_loss",
    "latency_breach",
    "identity_overmerge",
    "identity_fragmentation",
    "orphan_profiles",
    "sync_failure",
    "webhook_latency",
    "audience_drop",
    "delivery_variance",
    "code_change",
]

FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)

# Kinds that are changes someone made rather than symptoms: strong root-cause evidence.
CHANGE_KINDS = frozenset({"schema_drift", "code_change", "job_failure"})

Severity = Literal["info", "low", "medium", "high", "critical"]
SEVERITIES: tuple[str, ...] = get_args(Severity)


def is_fault_kind(value: str) -> bool:
    return value in FAULT_KINDS
