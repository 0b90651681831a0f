"""State shared by every CLI command: the store URL and the replay time."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
import typer
from rich.console import Console

from tools.config import Settings, db_url
from tools.nodes import NodeIdError, NodeRef
from tools.store import Store, open_store, to_micros
from tools.timeutil import parse_time_arg, utcnow

# Node ids such as dataset:snowflake://... must not turn into emoji.
console = Console(emoji=False)
err_console = Console(stderr=True, emoji=False)


@dataclass
class CliState:
    settings: Settings
    _store: Store | None = field(default=None, repr=False)

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = open_store(
                db_url(self.settings.db), sqlite_synchronous=self.settings.sqlite_synchronous
            )
        return self._store

    @property
    def now(self) -> datetime:
        return self.settings.at or utcnow()

    @property
    def now_us(self) -> int:
        return to_micros(self.now)

    def time_us(self, text: str | None, option: str) -> int | None:
        if text is None:
            return None
        try:
            return to_micros(parse_time_arg(text, self.now))
        except ValueError as exc:
            fail(f"{option}: {exc}")
        return None


def state(ctx: typer.Context) -> CliState:
    obj = ctx.find_root().obj
    assert isinstance(obj, CliState)
    return obj


def fail(message: str, code: int = 2) -> None:
    err_console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


def parse_node(text: str) -> NodeRef:
    try:
        return NodeRef.parse(text)
    except NodeIdError as exc:
        fail(str(exc))
        raise


def print_json(value: Any) -> None:
    typer.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2, default=_default).decode())


def _default(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if hasattr(value, "as_json"):
        return value.as_json()
    raise TypeError(f"cannot serialise {type(value).__name__}")
