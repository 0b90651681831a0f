"""Time parsing shared by ingestion, the CLI's ``--at`` and queries."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from tools.store.models import from_micros, to_micros

# Beyond microseconds Python's parser gives up; OpenLineage producers send nanoseconds.
_FRACTION = re.compile(r"(\.\d{6})\d+")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(us|ms|s|m|h|d|w)\s*$")
_UNITS_US = {
    "us": 1,
    "ms": 1_000,
    "s": 1_000_000,
    "m": 60_000_000,
    "h": 3_600_000_000,
    "d": 86_400_000_000,
    "w": 7 * 86_400_000_000,
}

# Far-future timestamps are almost always a unit mistake (ms sent as s, ns as us, ...).
FUTURE_TOLERANCE_US = 24 * 3_600_000_000


def parse_timestamp(text: str) -> datetime:
    """ISO 8601 -> aware UTC datetime; a missing zone means UTC. Raises ValueError."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("expected an ISO 8601 timestamp string")
    value = _FRACTION.sub(r"\1", text.strip())
    if value.endswith(("z", "Z")):
        value = value[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 timestamp") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_micros(text: str) -> int:
    return to_micros(parse_timestamp(text))


def parse_duration_us(text: str) -> int:
    """'90s', '2h', '28d' -> microseconds."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration like '30s', '15m', '2h' or '28d'")
    return int(float(match.group(1)) * _UNITS_US[match.group(2)])


def parse_time_arg(text: str, now: datetime | None = None) -> datetime:
    """A CLI time: ISO 8601, or a duration back from now such as '2h' or '7d'."""
    try:
        return from_micros(to_micros(now or datetime.now(UTC)) - parse_duration_us(text))
    except ValueError:
        return parse_timestamp(text)


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(micros: int | None) -> str | None:
    if micros is None:
        return None
    return from_micros(micros).isoformat().replace("+00:00", "Z")


__all__ = [
    "FUTURE_TOLERANCE_US",
    "iso",
    "parse_duration_us",
    "parse_micros",
    "parse_time_arg",
    "parse_timestamp",
    "timedelta",
    "utcnow",
]
