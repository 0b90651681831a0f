"""The FastAPI application behind ``flowsleuth serve``: ingestion and read-only queries.

Ingestion needs a bearer token (FLOWSLEUTH_INGEST_TOKENS); the queries are read-only.
"""

from __future__ import annotations

import os
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from tools.config import Settings
from tools.nodes import NodeIdError, NodeRef
from tools.server.ingest_auth import IngestAuth, IngestAuthError
from tools.server.ingest_routes import build_router, error_response, error_responses
from tools.store.db import Store
from tools.store.queries import (
    AssetView,
    RunView,
    SeriesView,
    UnknownNodeError,
    list_assets,
    list_runs,
    query_metrics,
)
from tools.timeutil import parse_micros

TIME_QUERY = Query(
    None,
    description="ISO 8601 timestamp, e.g. 2026-03-01T12:00:00Z",
    json_schema_extra={"format": "date-time"},
)


class RefuseNul:
    """Answer 400 to a URL holding a NUL (``%00``) before any route sees it.

    No route has a use for one, and PostgreSQL cannot compare text holding one: a query
    such as ``?search=%00`` failed inside the database with a 500.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            where = None
            if "\x00" in scope.get("path", ""):
                where = "path"
            elif b"%00" in scope.get("query_string", b""):
                where = "query"
            if where is not None:
                refusal = error_response(400, "the URL contains a NUL character (%00)", where)
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(store: Store, settings: Settings | None = None) -> FastAPI:
    """Raises TokenConfigError when the ingestion tokens are configured but unusable."""
    settings = settings or Settings()
    auth = IngestAuth.from_settings(settings)
    app = FastAPI(
        title="flowsleuth",
        description="MarTech pipeline incident investigator: telemetry ingestion and queries.",
        version="0.1.0",
    )
    app.state.store = store
    app.state.settings = settings
    app.add_middleware(RefuseNul)
    app.include_router(build_router(store, max_body_bytes=settings.max_body_bytes, auth=auth))

    @app.exception_handler(IngestAuthError)
    async def _unauthenticated(_: Request, exc: IngestAuthError) -> JSONResponse:
        return error_response(401, exc.reason, headers={"WWW-Authenticate": exc.www_authenticate})

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        loc = ".".join(str(p) for p in first.get("loc", ()))
        return error_response(400, str(first.get("msg", "invalid request")), loc or None)

    @app.exception_handler(NodeIdError)
    async def _bad_node(_: Request, exc: NodeIdError) -> JSONResponse:
        return error_response(400, str(exc), "node")

    @app.exception_handler(UnknownNodeError)
    async def _unknown_node(_: Request, exc: UnknownNodeError) -> JSONResponse:
        return error_response(404, str(exc), "node")

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, Any]:
        # The pid tells which of several server processes answered (and lets a test
        # harness tell its own server from another that took the same port).
        return {"status": "ok", "store": store.engine.dialect.name, "pid": os.getpid()}

    @app.get(
        "/api/v1/assets",
        tags=["query"],
        response_model=list[AssetView],
        responses=error_responses(400),
    )
    def assets(
        type: str | None = Query(None, pattern="^(dataset|job)$"),
        search: str | None = Query(None, max_length=256),
        limit: int = Query(1000, ge=1, le=10_000),
    ) -> list[AssetView]:
        return list_assets(store, node_type=type, search=search, limit=limit)

    @app.get(
        "/api/v1/runs",
        tags=["query"],
        response_model=list[RunView],
        responses=error_responses(400, 404),
    )
    def runs(
        node: str = Query(..., max_length=2048),
        since: str | None = TIME_QUERY,
        until: str | None = TIME_QUERY,
        limit: int = Query(100, ge=1, le=10_000),
    ) -> list[RunView]:
        return list_runs(
            store,
            NodeRef.parse(node),
            since_us=_t(since, "since"),
            until_us=_t(until, "until"),
            limit=limit,
        )

    @app.get(
        "/api/v1/metrics",
        tags=["query"],
        response_model=list[SeriesView],
        responses=error_responses(400, 404),
    )
    def metrics(
        node: str = Query(..., max_length=2048),
        name: str | None = Query(None, max_length=256),
        since: str | None = TIME_QUERY,
        until: str | None = TIME_QUERY,
        max_points: int = Query(10_000, ge=1, le=100_000),
    ) -> list[SeriesView]:
        return query_metrics(
            store,
            NodeRef.parse(node),
            name=name,
            since_us=_t(since, "since"),
            until_us=_t(until, "until"),
            max_points=max_points,
        )

    return app


def _t(value: str | None, field: str) -> int | None:
    if value is None:
        return None
    try:
        return parse_micros(value)
    except ValueError as exc:
        raise RequestValidationError([{"loc": ("query", field), "msg": str(exc)}]) from None
