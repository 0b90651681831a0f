"""Grounding: an explanation may only name nodes, numbers and times the evidence holds.

An LLM that invents a table, a count or a revenue figure is worse than no LLM, so its
explanation is checked against the evidence pack it was shown before anyone reads it:

* every citation (``[anomaly:12]``, ``[run:abc, log:7]``) must be an evidence id;
* every node id (``dataset:ns:name``), identifier-like word (``stg_contacts``,
  ``audience.cart``) and back-quoted name must occur in the evidence;
* every number must match a number in the evidence as written (rounded to the digits
  shown, as a percentage of a fraction, or in thousands with ``k``);
* every date and clock time must be one the evidence has;
* a confidence must be stated, at least one citation given, and when the evidence has
  more than one hypothesis the alternatives must be addressed.

Any failure rejects the whole explanation (the caller falls back to the narrator).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

CITATION_RE = re.compile(r"\[((?:[a-z_]+:[^\[\]\s,;]+)(?:\s*[,;]\s*[a-z_]+:[^\[\]\s,;]+)*)\]")
NODE_RE = re.compile(r"\b(?:dataset|job):[^\s\[\](){}<>,;'\"`]+")
TICKED_RE = re.compile(r"`([^`\n]{1,200})`")
# snake_case or dotted names: what a table, column, metric or job is called.
IDENT_RE = re.compile(r"(?<![\w$])[A-Za-z][A-Za-z0-9-]+(?:[._][A-Za-z0-9-]+)+")
TIMESTAMP_RE = re.compile(
    r"\b(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2})(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}:?\d{2})?"
)
CLOCK_RE = re.compile(r"(?<![\d:])(\d{1,2}:\d{2})(?::\d{2})?(?![\d:])")
LIST_MARKER_RE = re.compile(r"^\s*(?:\d{1,2}[.)]|[-*•])\s+", re.MULTILINE)
NUMBER_RE = re.compile(
    r"(?<![\w.])[-+]?\$?(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(?:\s?(%)|(k)\b|\s?(percent)\b)?",
    re.IGNORECASE,
)
CONFIDENCE_RE = re.compile(r"confiden|likel|probab|certain", re.IGNORECASE)
ALTERNATIVES_RE = re.compile(r"alternativ|rejected|ruled out|other (?:candidate|hypothes)", re.I)
# Abbreviations the identifier pattern would otherwise read as names.
COMMON_WORDS = frozenset({"e.g", "i.e", "etc", "vs", "a.m", "p.m"})
# Numbers any sentence may use without the evidence holding them ("one of", "0 failures").
FREE_NUMBERS = frozenset({0.0, 1.0})


@dataclass
class Facts:
    """What an evidence pack lets an explanation say."""

    ids: set[str] = field(default_factory=set)
    nodes: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)
    numbers: set[float] = field(default_factory=set)
    dates: set[str] = field(default_factory=set)
    clocks: set[str] = field(default_factory=set)
    hypotheses: int = 0


@dataclass
class GroundingResult:
    ok: bool
    problems: list[str]
    citations: list[str]


def facts_from_pack(pack: dict[str, Any]) -> Facts:
    facts = Facts()
    facts.hypotheses = len(pack.get("hypotheses") or [])
    _walk(pack, facts, None)
    return facts


def _walk(value: Any, facts: Facts, key: str | None) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _add_text(str(k), facts)
            _walk(v, facts, str(k))
    elif isinstance(value, list):
        for v in value:
            _walk(v, facts, key)
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int | float):
        if math.isfinite(float(value)):
            facts.numbers.add(float(value))
    elif isinstance(value, str):
        if key in ("id", "ref", "explains"):
            facts.ids.add(value)
        _add_text(value, facts)


def _add_text(text: str, facts: Facts) -> None:
    for match in NODE_RE.finditer(text):
        node = match.group(0).rstrip(".:")
        facts.nodes.add(node)
        # The parts of a node id are names too: "stg_contacts" for "dataset:ns:stg_contacts".
        rest = node.partition(":")[2]
        namespace, _, name = rest.rpartition(":")
        facts.names.update(p.lower() for p in (namespace, name) if p)
        parts = name.lower().split(".")
        facts.names.update(".".join(parts[i:]) for i in range(1, len(parts)))
    for match in IDENT_RE.finditer(text):
        name = match.group(0).rstrip(".-").lower()
        facts.names.add(name)
        # "stg_contacts" is how anyone shortens "analytics.staging.stg_contacts".
        parts = name.split(".")
        facts.names.update(".".join(parts[i:]) for i in range(1, len(parts)))
    for word in re.findall(r"[\w.:/-]+", text):
        facts.names.add(word.strip(".,:;").lower())
    for match in TIMESTAMP_RE.finditer(text):
        facts.dates.add(match.group(1))
        if match.group(2):
            facts.clocks.add(match.group(2))
    for match in NUMBER_RE.finditer(TIMESTAMP_RE.sub(" ", text)):
        number = _number(match)
        if number is not None:
            facts.numbers.add(number[0])


def _number(match: re.Match[str]) -> tuple[float, int, bool, bool] | None:
    """(value, decimals shown, is a percentage, in thousands) of one number match."""
    whole, frac, pct, kilo, word = match.groups()
    try:
        value = float(whole.replace(",", "") + (frac or ""))
    except ValueError:
        return None
    if match.group(0).lstrip().startswith("-"):
        value = -value
    decimals = len(frac) - 1 if frac else 0
    return value, decimals, bool(pct or word), bool(kilo)


def check(text: str, facts: Facts) -> GroundingResult:
    """Check ``text`` against ``facts``; ``ok`` only when nothing is ungrounded."""
    problems: list[str] = []
    citations: list[str] = []
    rest = text
    for match in CITATION_RE.finditer(text):
        for ref in re.split(r"\s*[,;]\s*", match.group(1)):
            citations.append(ref)
            if ref not in facts.ids:
                problems.append(f"cites {ref!r}, which is not an evidence id")
    rest = CITATION_RE.sub(" ", rest)
    for match in NODE_RE.finditer(rest):
        node = match.group(0).rstrip(".:")
        if node not in facts.nodes:
            problems.append(f"names node {node!r}, which the evidence does not mention")
    rest = NODE_RE.sub(" ", rest)
    for match in TICKED_RE.finditer(rest):
        name = match.group(1).strip().lower()
        if name and not _known_name(name, facts):
            problems.append(f"names `{match.group(1)}`, which the evidence does not mention")
    for match in TIMESTAMP_RE.finditer(rest):
        date, clock = match.group(1), match.group(2)
        if date not in facts.dates or (clock and clock not in facts.clocks):
            problems.append(f"gives the time {match.group(0)!r}, which is not in the evidence")
    rest = TIMESTAMP_RE.sub(" ", rest)
    for match in CLOCK_RE.finditer(rest):
        if match.group(1).zfill(5) not in facts.clocks:
            problems.append(f"gives the time {match.group(0)!r}, which is not in the evidence")
    rest = CLOCK_RE.sub(" ", rest)
    for match in IDENT_RE.finditer(rest):
        name = match.group(0).rstrip(".-").lower()
        if name not in COMMON_WORDS and not _known_name(name, facts):
            problems.append(f"names {match.group(0)!r}, which the evidence does not mention")
    rest = IDENT_RE.sub(" ", rest)
    rest = LIST_MARKER_RE.sub(" ", rest)
    for match in NUMBER_RE.finditer(rest):
        number = _number(match)
        if number is not None and not _known_number(*number, facts.numbers):
            problems.append(f"states the number {match.group(0).strip()!r}, not in the evidence")
    if not citations:
        problems.append("cites no evidence ids")
    if not CONFIDENCE_RE.search(text) or "%" not in text:
        problems.append("states no confidence (as a percentage)")
    if facts.hypotheses > 1 and not ALTERNATIVES_RE.search(text):
        problems.append("does not address the alternative hypotheses")
    return GroundingResult(ok=not problems, problems=_unique(problems), citations=citations)


def _known_name(name: str, facts: Facts) -> bool:
    if name in facts.names or name in facts.ids:
        return True
    # "audience.cart_abandoners's" or a plural: accept a known name with a short suffix.
    return any(name.startswith(known) and len(name) - len(known) <= 2 for known in facts.names)


def _known_number(
    value: float, decimals: int, percent: bool, kilo: bool, known: Iterable[float]
) -> bool:
    if value in FREE_NUMBERS and not kilo:
        return True
    scale = 1000.0 if kilo else 1.0
    shown = value * scale
    half_unit = 0.5 * 10.0**-decimals * scale
    for fact in known:
        candidates = [fact, abs(fact)]
        if percent or abs(fact) <= 1.0:
            candidates += [fact * 100.0, abs(fact) * 100.0]
        if any(abs(shown - c) <= half_unit + 1e-9 for c in candidates):
            return True
    return False


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


__all__ = ["Facts", "GroundingResult", "check", "facts_from_pack"]
