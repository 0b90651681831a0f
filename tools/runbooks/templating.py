"""``{{ path.to.value }}`` substitution for playbook parameters.

Deliberately not a template language: a placeholder is a dotted path into plain data
(``root_cause.node``, ``at_risk.0.owner``, ``evidence.recent_runs.0.state``) and nothing
else, so a playbook (or text that reached one) can never run code or read secrets.
A string that is exactly one placeholder keeps the value's type (a list stays a list).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_-]+)*$")


class TemplateError(ValueError):
    """A placeholder that is malformed or names something the context does not have."""


def placeholders(value: Any) -> Iterator[str]:
    """Every placeholder path in a (nested) value, in order; malformed ones raise."""
    if isinstance(value, str):
        for match in _PLACEHOLDER.finditer(value):
            path = match.group(1)
            if not _PATH.match(path):
                raise TemplateError(f"placeholder {match.group(0)!r} is not a dotted path")
            yield path
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from placeholders(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from placeholders(item)


def lookup(variables: Mapping[str, Any], path: str) -> Any:
    """Follow a dotted path; integer segments index lists."""
    current: Any = variables
    walked: list[str] = []
    for part in path.split("."):
        walked.append(part)
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            raise TemplateError(f"{{{{ {path} }}}}: the context has no {'.'.join(walked)!r}")
        if current is None:
            raise TemplateError(f"{{{{ {path} }}}}: {'.'.join(walked)!r} is empty")
    return current


def render(
    value: Any,
    variables: Mapping[str, Any],
    *,
    keep_roots: frozenset[str] = frozenset(),
    escape: Callable[[str], str] | None = None,
) -> Any:
    """Substitute placeholders throughout ``value`` (strings, lists, mappings).

    Placeholders whose first segment is in ``keep_roots`` are left as they are, to be
    filled later (a rollback's ``prior.*`` is only known once the action ran).
    ``escape`` is applied to each substituted text (e.g. URL-quoting path segments).
    """
    if isinstance(value, str):
        return _render_text(value, variables, keep_roots, escape)
    if isinstance(value, Mapping):
        return {
            k: render(v, variables, keep_roots=keep_roots, escape=escape) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [render(v, variables, keep_roots=keep_roots, escape=escape) for v in value]
    return value


def _render_text(
    text: str,
    variables: Mapping[str, Any],
    keep_roots: frozenset[str],
    escape: Callable[[str], str] | None,
) -> Any:
    whole = _PLACEHOLDER.fullmatch(text.strip())
    if whole and escape is None:
        path = whole.group(1)
        if path.split(".", 1)[0] in keep_roots:
            return text
        return lookup(variables, _checked(path, whole.group(0)))

    def substitute(match: re.Match[str]) -> str:
        path = _checked(match.group(1), match.group(0))
        if path.split(".", 1)[0] in keep_roots:
            return match.group(0)
        found = lookup(variables, path)
        if isinstance(found, Mapping | list):
            raise TemplateError(f"{match.group(0)} is a structure; it cannot sit inside text")
        out = _scalar_text(found)
        return escape(out) if escape else out

    return _PLACEHOLDER.sub(substitute, text)


def _checked(path: str, raw: str) -> str:
    if not _PATH.match(path):
        raise TemplateError(f"placeholder {raw!r} is not a dotted path")
    return path


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
