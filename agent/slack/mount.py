"""The Slack app inside ``flowsleuth serve``: ``POST /slack/events`` (HTTP mode), a
Socket Mode connection when an app-level token is set, and the message sync loop."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from langchain_core.language_models import BaseChatModel
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from starlette.concurrency import run_in_threadpool

from agent.slack.app import SlackSurface
from agent.slack.settings import SlackSettings
from tools.runbooks import Decision, add_decision_hook, remove_decision_hook
from tools.runbooks.executors import ExecutorRegistry
from tools.runbooks.roles import ApproverDirectory
from tools.server.lifespan import chain_lifespan
from tools.store.db import Store
from tools.store.models import now_micros

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"


class SyncLoop:
    """Keeps incident messages current: a sync every ``interval`` seconds until stopped,
    and one right away after any decision made in this process (web, CLI or Slack), so a
    decision on the web shows in Slack within a moment rather than an interval."""

    def __init__(self, surface: SlackSurface, interval: float) -> None:
        self.surface = surface
        self.interval = interval
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def poke(self, _: Decision | None = None) -> None:
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="slack-sync", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        told: set[tuple[int, str]] = set()
        while not self._stop.is_set():
            try:
                self._expire()
                if self._stop.is_set():
                    break
                report = self.surface.notifier.sync()
                if report.posted or report.updated:
                    log.info("slack: posted %s, updated %s", report.posted, report.updated)
                for incident_id, why in report.skipped.items():
                    if (incident_id, why) not in told:  # once each, not every pass
                        told.add((incident_id, why))
                        log.warning("slack: incident %s not posted: %s", incident_id, why)
            except Exception:  # a bad pass must not end the loop; the next one may work
                log.exception("slack: incident message sync failed")
            self._wake.wait(self.interval)
            self._wake.clear()

    def _expire(self) -> None:
        """Expire proposals past their time first (moving on the investigations that
        waited for them), so no message offers buttons for what can no longer be decided."""
        from agent.approvals import expire_and_resume  # LangGraph: only when the loop runs

        surface = self.surface
        registry = surface.executors()
        try:
            expire_and_resume(surface.store, registry, now_us=surface.clock())
        finally:
            registry.close()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


def mount_slack(
    app: FastAPI,
    store: Store,
    settings: SlackSettings,
    *,
    directory: ApproverDirectory,
    executors: Callable[[], ExecutorRegistry],
    clock: Callable[[], int] = now_micros,
    model: BaseChatModel | None = None,
    sync_loop: bool = True,
) -> SlackSurface:
    """Serve the Slack app from ``app``. HTTP mode (a signing secret) adds
    ``POST /slack/events``; Socket Mode (an app token) connects out at start-up."""
    surface = SlackSurface(
        store, settings, directory=directory, executors=executors, clock=clock, model=model
    )
    if settings.signing_secret is not None:

        @app.post(EVENTS_PATH, tags=["slack"], summary="Slack Events API and interactivity")
        async def slack_events(request: Request) -> Response:
            body = await request.body()
            try:
                body.decode("utf-8")  # Bolt decodes before it verifies the signature
            except UnicodeDecodeError:
                return JSONResponse({"error": "body is not UTF-8"}, status_code=400)
            # dispatch() returns as soon as the listener acknowledges; the listener goes
            # on in Bolt's threads. It blocks until then, so keep it off the event loop.
            bolt_response = await run_in_threadpool(
                surface.app.dispatch, to_bolt_request(request, body)
            )
            return to_starlette_response(bolt_response)

    @asynccontextmanager
    async def running() -> AsyncIterator[None]:
        loop = SyncLoop(surface, settings.sync_interval_s) if sync_loop else None
        socket: Any = None
        if settings.app_token is not None:
            from slack_bolt.adapter.socket_mode import SocketModeHandler

            socket = SocketModeHandler(surface.app, settings.app_token.get_secret_value())
            await run_in_threadpool(socket.connect)
        if loop is not None:
            loop.start()
            add_decision_hook(loop.poke)
        try:
            yield
        finally:
            if loop is not None:
                remove_decision_hook(loop.poke)
            if socket is not None:
                await run_in_threadpool(socket.close)  # no new work arrives
            if loop is not None:
                await run_in_threadpool(loop.stop)
            await run_in_threadpool(surface.close)  # the work already started finishes

    chain_lifespan(app, running)
    return surface
