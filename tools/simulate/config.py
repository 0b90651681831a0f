"""What a simulation is asked for, checked up front, and the hour grid it runs on."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from tools.store.models import from_micros, to_micros

HOUR_US = 3_600_000_000
MINUTE_US = 60_000_000
DAY_HOURS = 24

MIN_SIZE = 12
MAX_SIZE = 200_000
MIN_DAYS = 3
MAX_DAYS = 366
# A fault needs history before it to stand out against; without a start it begins here.
DEFAULT_FAULT_LEAD = timedelta(hours=36)
MIN_BASELINE = timedelta(days=2)


class SimConfigError(ValueError):
    """A simulation request that cannot be run; the message names the field and the fix."""


@dataclass(slots=True)
class FaultSpec:
    """One scenario to inject: at ``node`` (text id; default: the scenario's usual place)
    from ``start`` (aware UTC; default: 36 hours before the end)."""

    scenario: str
    node: str | None = None
    start: datetime | None = None


@dataclass(slots=True, kw_only=True)
class SimConfig:
    """A simulated MarTech stack: its size, the period it covers and the faults in it.

    ``end`` is required, must be timezone-aware UTC and fall on a whole hour; the period is
    the ``days`` before it. The same config always yields byte-identical output.
    """

    end: datetime
    seed: int = 7
    size: int = 40
    days: int = 21
    scenarios: list[FaultSpec] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Clock:
    """The simulated period as whole hours: hour ``h`` covers [t0 + h, t0 + h + 1)."""

    t0_us: int
    hours: int

    @property
    def end_us(self) -> int:
        return self.t0_us + self.hours * HOUR_US

    def hour_start(self, h: int) -> int:
        return self.t0_us + h * HOUR_US

    def epoch_hour(self, h: int) -> int:
        return self.t0_us // HOUR_US + h

    def hour_of_day(self, h: int) -> int:
        return self.epoch_hour(h) % DAY_HOURS

    def day_of_week(self, h: int) -> int:
        """0 = Monday, as datetime.weekday() (1970-01-01 was a Thursday)."""
        return (self.epoch_hour(h) // DAY_HOURS + 3) % 7

    def hour_of(self, micros: int) -> int:
        """The hour index containing ``micros`` (may lie outside [0, hours))."""
        return (micros - self.t0_us) // HOUR_US

    def first_hour_at_or_after(self, micros: int) -> int:
        return -((self.t0_us - micros) // HOUR_US)

    def when(self, h: int) -> datetime:
        return from_micros(self.hour_start(h))


def check_config(config: SimConfig) -> Clock:
    """Validate ``config``; raise SimConfigError naming the first problem."""
    end = config.end
    if not isinstance(end, datetime):
        raise SimConfigError(f"end must be a datetime, got {type(end).__name__}")
    if end.tzinfo is None or end.utcoffset() != timedelta(0):
        raise SimConfigError(f"end must be timezone-aware UTC, got {end.isoformat()}")
    if (end.minute, end.second, end.microsecond) != (0, 0, 0):
        raise SimConfigError(
            f"end must fall on a whole hour, got {end.isoformat()}; "
            f"e.g. {end.replace(minute=0, second=0, microsecond=0).isoformat()}"
        )
    for name, value, low, high in (
        ("seed", config.seed, 0, 2**63 - 1),
        ("size", config.size, MIN_SIZE, MAX_SIZE),
        ("days", config.days, MIN_DAYS, MAX_DAYS),
    ):
        if isinstance(value, bool) or not isinstance(value, int):
            raise SimConfigError(f"{name} must be an integer, got {value!r}")
        if not low <= value <= high:
            raise SimConfigError(f"{name} must be between {low} and {high}, got {value}")
    for i, spec in enumerate(config.scenarios):
        if not isinstance(spec, FaultSpec):
            raise SimConfigError(f"scenarios[{i}] must be a FaultSpec, got {type(spec).__name__}")
    end_us = to_micros(end.astimezone(UTC))
    hours = config.days * DAY_HOURS
    return Clock(t0_us=end_us - hours * HOUR_US, hours=hours)


def fault_start_us(spec: FaultSpec, clock: Clock, index: int) -> int:
    """The start of one fault in microseconds, checked against the period."""
    earliest = clock.t0_us + int(MIN_BASELINE / timedelta(microseconds=1))
    latest = clock.end_us - 2 * HOUR_US
    if spec.start is None:
        # Short periods cannot give 36 hours: keep the two days of history instead.
        return max(clock.end_us - int(DEFAULT_FAULT_LEAD / timedelta(microseconds=1)), earliest)
    start = spec.start
    where = f"scenarios[{index}] ({spec.scenario}).start"
    if not isinstance(start, datetime) or start.tzinfo is None:
        raise SimConfigError(f"{where} must be a timezone-aware datetime, got {start!r}")
    start_us = to_micros(start)
    if not earliest <= start_us <= latest:
        raise SimConfigError(
            f"{where} is {start.isoformat()}; it must lie between "
            f"{from_micros(earliest).isoformat()} (two days of normal history first) and "
            f"{from_micros(latest).isoformat()} (two hours before the end)"
        )
    return start_us
