"""What every ingestion path reports back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class InputError(ValueError):
    """Input that breaks the telemetry contract. ``field`` names where (a JSON path)."""

    def __init__(self, reason: str, field: str | None = None) -> None:
        self.reason = reason
        self.field = field
        super().__init__(f"{field}: {reason}" if field else reason)


@dataclass(slots=True)
class Rejection:
    reason: str
    origin: str | None = None
    dead_letter_id: int | None = None
    field: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "reason": self.reason,
            "field": self.field,
            "origin": self.origin,
            "dead_letter_id": self.dead_letter_id,
        }


@dataclass(slots=True)
class IngestResult:
    """Counts of one ingestion: units are events, data points, log records or spans."""

    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)

    def merge(self, other: IngestResult) -> IngestResult:
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.rejected.extend(other.rejected)
        return self

    def as_json(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": len(self.rejected),
            "rejections": [r.as_json() for r in self.rejected],
        }
