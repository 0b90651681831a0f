"""How tool families declare their tools, and what every tool shares.

A family is a class whose methods marked with :func:`tool` become MCP tools. The marker
records the tool's annotations and whether it writes; the wrapper it installs turns the
capabilities' anticipated errors (a malformed or unknown node, a bad time range, an
unknown incident, a refused action) into MCP tool errors that carry the message, so a
mistake in the arguments never ends the session, and sends the result's JSON compactly.
"""

from __future__ import annotations

import functools
import getpass
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.mcpserver.exceptions import ToolError
from tools.nodes import NodeRef
from tools.runbooks.executors.base import ExecutorRegistry
from tools.runbooks.loader import DEFAULT_DIR, LoadResult, load_playbooks, playbook_files
from tools.runbooks.policy import PolicyConfig
from tools.runbooks.roles import ApprovalSettings
from tools.server.mcp.auth import write_refusal
from tools.server.mcp.budget import Budget
from tools.store.db import Store
from tools.store.models import from_micros, now_micros, to_micros
from tools.timeutil import parse_time_arg

F = TypeVar("F", bound=Callable[..., Any])
MARK = "__flowsleuth_tool__"
# Anticipated failures: bad arguments (ValueError, which NodeIdError, ContextError and
# pydantic's ValidationError are), things that do not exist (LookupError: unknown node,
# incident, proposal, trace) and refusals (PermissionError: NotAllowedError).
ANTICIPATED: tuple[type[Exception], ...] = (ValueError, LookupError, PermissionError)


@dataclass(frozen=True, slots=True)
class ToolMeta:
    title: str
    write: bool
    annotations: ToolAnnotations


def tool(
    title: str,
    *,
    write: bool = False,
    destructive: bool = False,
    idempotent: bool = True,
    open_world: bool = False,
) -> Callable[[F], F]:
    """Mark a family method as an MCP tool. Read tools are read-only and idempotent and
    touch only flowsleuth's store; ``write`` tools appear only with writes enabled."""

    def mark(fn: F) -> F:
        annotations = ToolAnnotations(
            title=title,
            read_only_hint=not write,
            destructive_hint=destructive if write else False,
            idempotent_hint=idempotent,
            open_world_hint=open_world,
        )

        @functools.wraps(fn)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if write:
                refused = write_refusal(fn.__name__)
                if refused is not None:
                    raise ToolError(refused)
            try:
                result = fn(*args, **kwargs)
            except ToolError:
                raise
            except ANTICIPATED as exc:
                raise ToolError(str(exc)) from exc
            if isinstance(result, BaseModel):
                # Compact JSON as the text twin of the structured result: the indented form
                # the SDK would build costs the reader about half again in tokens.
                return CallToolResult(
                    content=[TextContent(type="text", text=result.model_dump_json(by_alias=True))],
                    structured_content=result.model_dump(mode="json", by_alias=True),
                )
            return result

        setattr(guarded, MARK, ToolMeta(title=title, write=write, annotations=annotations))
        return guarded  # type: ignore[return-value]

    return mark


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    family: str
    fn: Callable[..., Any]
    meta: ToolMeta


def tools_of(family: object, name: str) -> Iterator[ToolSpec]:
    """The marked methods of a family instance, bound, in definition order."""
    for attr, member in vars(type(family)).items():
        meta = getattr(member, MARK, None)
        if isinstance(meta, ToolMeta):
            yield ToolSpec(name=attr, family=name, fn=getattr(family, attr), meta=meta)


@dataclass
class ToolDeps:
    """What the tool families read and act through."""

    store: Store
    budget: Budget = field(default_factory=Budget)
    clock: Callable[[], int] = now_micros
    playbooks_dir: Path = DEFAULT_DIR
    policy: PolicyConfig | None = None
    approval_settings: ApprovalSettings | None = None
    executor_factory: Callable[[], ExecutorRegistry] | None = None
    _playbooks: tuple[tuple[tuple[str, int, int], ...], LoadResult] | None = None
    _playbooks_lock: threading.Lock = field(default_factory=threading.Lock)

    def playbooks(self) -> LoadResult:
        """The playbooks, parsed again only when a file under the folder changed: parsing
        and validating every file costs far more than the tool calls that read them."""
        stamp = _stamp(self.playbooks_dir)
        with self._playbooks_lock:
            if self._playbooks is None or self._playbooks[0] != stamp:
                self._playbooks = (stamp, load_playbooks(self.playbooks_dir))
            return self._playbooks[1]

    def now_us(self) -> int:
        return self.clock()

    @contextmanager
    def executors(self) -> Iterator[ExecutorRegistry]:
        """Executors for one write call, closed after it: a read-only server never opens
        connections to the systems actions run against, and none outlive a call."""
        if self.executor_factory is None:
            from tools.runbooks.runtime import default_executors

            registry = default_executors()
        else:
            registry = self.executor_factory()
        try:
            yield registry
        finally:
            registry.close()

    def actor(self) -> str:
        """Who is calling: the bearer token's client over HTTP, the local user on stdio."""
        token = get_access_token()
        if token is not None:
            return f"mcp:{token.client_id}"
        return f"mcp:{os.environ.get('FLOWSLEUTH_USER') or getpass.getuser()}"

    def time(self, text: str | None, argument: str) -> int | None:
        """An ISO 8601 time or a duration back from now ('2h', '7d'); None stays None."""
        if text is None or not text.strip():
            return None
        try:
            return to_micros(parse_time_arg(text, from_micros(self.now_us())))
        except ValueError as exc:
            raise ValueError(f"{argument}: {exc}") from None

    def time_range(
        self, since: str | None, until: str | None
    ) -> tuple[int | None, int | None]:
        since_us, until_us = self.time(since, "since"), self.time(until, "until")
        if since_us is not None and until_us is not None and since_us > until_us:
            raise ValueError(
                f"bad time range: since ({since}) is after until ({until}); swap them"
            )
        return since_us, until_us


def _stamp(folder: Path) -> tuple[tuple[str, int, int], ...]:
    files = playbook_files(folder) if folder.exists() else []
    out = []
    for f in files:
        try:
            st = f.stat()
        except OSError:
            continue
        out.append((str(f), st.st_mtime_ns, st.st_size))
    return tuple(out)


def parse_node(text: str, argument: str = "node") -> NodeRef:
    try:
        return NodeRef.parse(text.strip())
    except ValueError as exc:
        raise ValueError(f"{argument}: {exc}") from None


__all__ = [
    "ANTICIPATED",
    "ToolDeps",
    "ToolMeta",
    "ToolSpec",
    "parse_node",
    "tool",
    "tools_of",
]
