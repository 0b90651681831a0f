"""Loading ``playbooks/*.yaml``: each file on its own, bad ones reported, never fatal.

A broken playbook is reported with its file, the line of the offending YAML node and
the reason, and the valid playbooks still load: one typo must not disarm every runbook.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from tools.runbooks.schema import Playbook

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "playbooks"


class PlaybookError(BaseModel):
    file: str
    line: int | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.reason}"


class LoadResult(BaseModel):
    playbooks: list[Playbook]
    errors: list[PlaybookError]

    @property
    def ok(self) -> bool:
        return not self.errors


def playbook_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
    return [path]


def load_playbooks(paths: Path | Iterable[Path] = DEFAULT_DIR) -> LoadResult:
    """Every playbook under ``paths`` (files or folders); ids must be unique across files."""
    files: list[Path] = []
    for path in [paths] if isinstance(paths, Path) else list(paths):
        files.extend(playbook_files(path))
    playbooks: list[Playbook] = []
    errors: list[PlaybookError] = []
    first_file: dict[str, str] = {}
    for file in files:
        loaded = load_playbook_file(file)
        if isinstance(loaded, PlaybookError):
            errors.append(loaded)
            continue
        if loaded.id in first_file:
            errors.append(
                PlaybookError(
                    file=str(file),
                    line=None,
                    reason=f"playbook id {loaded.id!r} is already used by {first_file[loaded.id]}",
                )
            )
            continue
        first_file[loaded.id] = str(file)
        playbooks.append(loaded)
    return LoadResult(playbooks=playbooks, errors=errors)


def load_playbook_file(file: Path) -> Playbook | PlaybookError:
    name = str(file)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return PlaybookError(file=name, line=None, reason="no such file")
    except (OSError, UnicodeDecodeError) as exc:
        return PlaybookError(file=name, line=None, reason=f"cannot read: {exc}")
    try:
        loader = yaml.SafeLoader(text)
        try:
            root = loader.get_single_node()
            data = loader.construct_document(root) if root is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        return PlaybookError(file=name, line=line, reason=f"invalid YAML: {exc.problem}")
    except yaml.YAMLError as exc:
        return PlaybookError(file=name, line=None, reason=f"invalid YAML: {exc}")
    if not isinstance(data, dict) or root is None:
        return PlaybookError(file=name, line=1, reason="a playbook must be a YAML mapping")
    try:
        return Playbook.model_validate(data)
    except ValidationError as exc:
        return _first_validation_error(name, root, exc)


def _first_validation_error(file: str, root: yaml.Node, exc: ValidationError) -> PlaybookError:
    reasons = []
    line = None
    for err in exc.errors():
        loc = tuple(err["loc"])
        where = ".".join(str(p) for p in loc) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        reasons.append(f"{where}: {msg}")
        if line is None:
            line = _line_of(root, loc)
    return PlaybookError(file=file, line=line, reason="; ".join(reasons))


def _line_of(node: yaml.Node, loc: tuple[Any, ...]) -> int:
    """The 1-based line of the deepest YAML node the error location reaches."""
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                    child = value
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part >= 0:
            child = node.value[part] if part < len(node.value) else None
        if child is None:
            break
        node = child
    return int(node.start_mark.line) + 1
