"""Why a series could not be scored, or what was done to it first.

Data problems (gaps, duplicates, non-finite values, too little history) never raise: they
are recorded here as issues with a stable ``code`` so callers can branch on them and people
can read the ``message``. Only API misuse (mismatched shapes, a bad config) raises
``DetectInputError``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class DetectInputError(ValueError):
    """Arguments that cannot describe a series at all (shapes, types, config values)."""


# Issue codes. Fatal ones mean nothing was scored.
EMPTY = "empty"
ALL_MISSING = "all_missing"
GRID_TOO_LARGE = "grid_too_large"
BAD_TIMESTAMPS = "bad_timestamps"
NON_FINITE = "non_finite"
OUT_OF_RANGE = "out_of_range"
UNSORTED = "unsorted"
DUPLICATES = "duplicates"
OFF_GRID = "off_grid"
GAPS = "gaps"
CONSTANT = "constant"
SHORT = "short"
NO_DAILY = "no_daily_season"
NO_WEEKLY = "no_weekly_season"
FATAL_CODES = frozenset({EMPTY, ALL_MISSING, GRID_TOO_LARGE, SHORT})


@dataclass(frozen=True, slots=True)
class Issue:
    code: str
    message: str
    count: int | None = None

    @property
    def fatal(self) -> bool:
        return self.code in FATAL_CODES

    def as_json(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "count": self.count,
                "fatal": self.fatal}


@dataclass(slots=True)
class SeriesDiagnostics:
    """Issues found in one series, in the order they were found."""

    issues: list[Issue] = field(default_factory=list)

    def add(self, code: str, message: str, count: int | None = None) -> None:
        self.issues.append(Issue(code, message, count))

    def codes(self) -> list[str]:
        return [issue.code for issue in self.issues]

    def has(self, code: str) -> bool:
        return any(issue.code == code for issue in self.issues)

    @property
    def scorable(self) -> bool:
        """False when a fatal issue means no point received a score."""
        return not any(issue.fatal for issue in self.issues)

    def as_json(self) -> list[dict[str, Any]]:
        return [issue.as_json() for issue in self.issues]
