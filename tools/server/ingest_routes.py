"""HTTP ingestion: the OpenLineage route Marquez serves and the OTLP/HTTP routes.

Every route needs an ingestion bearer token (:mod:`tools.server.ingest_auth`) and answers
only after the transaction has committed, so a 2xx means durable. Bad input is a 4xx
naming the problem (and is kept in the dead-letter table); a 5xx means a bug in
flowsleuth, never a bad payload.
"""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool

from tools.ingest.deadletters import record_dead_letter
from tools.ingest.group_commit import GroupCommitWriter
from tools.ingest.openlineage import decode_json_items, keep_rejected, parse_items
from tools.ingest.otlp import Signal, encode_otlp_response, ingest_otlp
from tools.ingest.result import IngestResult, InputError
from tools.server.ingest_auth import IngestAuth
from tools.store.db import Store
from tools.store.models import now_micros

OTLP_TYPES = ("application/json", "application/x-protobuf")


class BodyError(Exception):
    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        self.reason = reason
        super().__init__(reason)


class ErrorBody(BaseModel):
    """Every error this API answers: what is wrong, and which field when one is to blame
    (ingestion adds what was accepted and rejected)."""

    model_config = ConfigDict(extra="allow")

    error: str
    field: str | None = None


def error_response(
    status: int,
    reason: str,
    field: str | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {"error": reason}
    if field:
        body["field"] = field
    body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers)


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    what = {
        400: "The input breaks the contract; the error names the field",
        401: "No valid ingestion token (see FLOWSLEUTH_INGEST_TOKENS)",
        404: "No such node",
        413: "The body (or its decompressed form) is over the size limit",
        415: "Unsupported Content-Type or Content-Encoding",
    }
    return {code: {"model": ErrorBody, "description": what[code]} for code in codes}


# The handlers stream the raw body (to cap its size before reading it whole), so FastAPI
# cannot infer a request body; these describe it, for /docs and for schemathesis to send.
_PROTOBUF = {"schema": {"type": "string", "format": "binary"}}
_NAMED = {
    "type": "object",
    "required": ["namespace", "name"],
    "properties": {
        "namespace": {"type": "string"},
        "name": {"type": "string"},
        "facets": {"type": "object"},
    },
}
_RUN_EVENT = {
    "type": "object",
    "description": "An OpenLineage RunEvent (https://openlineage.io/spec/2-0-2/OpenLineage.json)",
    "required": ["eventTime", "producer", "run", "job"],
    "properties": {
        "eventType": {
            "type": "string",
            "enum": ["START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"],
        },
        "eventTime": {"type": "string", "format": "date-time"},
        "producer": {"type": "string"},
        "schemaURL": {"type": "string"},
        "run": {
            "type": "object",
            "required": ["runId"],
            "properties": {
                "runId": {"type": "string", "format": "uuid"},
                "facets": {"type": "object"},
            },
        },
        "job": _NAMED,
        "inputs": {"type": "array", "items": _NAMED},
        "outputs": {"type": "array", "items": _NAMED},
    },
}
LINEAGE_BODY = {
    "requestBody": {
        "required": True,
        "description": "One event, a JSON array of events, or JSON lines (gzip or deflate "
        "Content-Encoding accepted)",
        "content": {
            "application/json": {
                "schema": {"anyOf": [_RUN_EVENT, {"type": "array", "items": _RUN_EVENT}]}
            }
        },
    }
}


def _otlp_body(signal: str) -> dict[str, Any]:
    top, request = {
        "metrics": ("resourceMetrics", "ExportMetricsServiceRequest"),
        "logs": ("resourceLogs", "ExportLogsServiceRequest"),
        "traces": ("resourceSpans", "ExportTraceServiceRequest"),
    }[signal]
    return {
        "requestBody": {
            "required": True,
            "description": f"An OTLP {request}, as OTLP/JSON or protobuf",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {top: {"type": "array", "items": {"type": "object"}}},
                    }
                },
                "application/x-protobuf": _PROTOBUF,
            },
        }
    }


async def read_body(request: Request, limit: int, source: str, store: Store) -> bytes:
    """The request body, decompressed, refusing anything over ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        # Keep the head of what was sent, so the rejection is inspectable without
        # letting an oversized body onto the disk.
        head = b""
        async for chunk in request.stream():
            head += chunk
            if len(head) >= 4096:
                break
        await run_in_threadpool(
            record_dead_letter,
            store,
            source=source,
            payload=head,
            origin=request.url.path,
            content_type=request.headers.get("content-type"),
            reason=f"body of {declared} bytes exceeds the {limit}-byte limit (first bytes kept)",
        )
        raise BodyError(413, f"body of {declared} bytes exceeds the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyError(413, f"body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "").lower()
    if encoding in ("gzip", "deflate"):
        try:
            decomp = zlib.decompressobj(wbits=31 if encoding == "gzip" else 15)
            body = decomp.decompress(body, limit + 1)
        except (zlib.error, gzip.BadGzipFile) as exc:
            raise BodyError(400, f"body is not valid {encoding}: {exc}") from None
        if len(body) > limit:
            raise BodyError(413, f"decompressed body exceeds the limit of {limit} bytes")
    elif encoding not in ("", "identity"):
        raise BodyError(415, f"unsupported Content-Encoding {encoding!r}")
    return body


def build_router(store: Store, *, max_body_bytes: int, auth: IngestAuth) -> APIRouter:
    # The token is checked before the handler runs, so a refused body is never read.
    router = APIRouter(dependencies=[Depends(auth.dependency())])
    writer = GroupCommitWriter(store)
    router.add_event_handler("shutdown", writer.close)

    @router.post(
        "/api/v1/lineage",
        status_code=201,
        # 201 carries no body (Marquez sends none); without this the schema promised JSON.
        response_class=Response,
        tags=["ingest"],
        summary="Ingest OpenLineage events (Marquez-compatible)",
        responses={
            201: {"description": "Stored (committed)"},
            **error_responses(400, 401, 413, 415),
        },
        openapi_extra=LINEAGE_BODY,
    )
    async def post_lineage(request: Request) -> Response:
        try:
            body = await read_body(request, max_body_bytes, "openlineage", store)
        except BodyError as exc:
            return error_response(exc.status, exc.reason)
        parsed, bad = parse_items(decode_json_items(body), now_micros())
        result = IngestResult()
        if parsed:
            # Await the group commit that carries these events: 201 only once durable.
            result.accepted, result.duplicates = await asyncio.wrap_future(writer.submit(parsed))
        if bad:
            result.rejected = await run_in_threadpool(
                keep_rejected, store, bad, origin=request.url.path
            )
        if result.rejected:
            first = result.rejected[0]
            return error_response(
                400,
                first.reason,
                first.field,
                accepted=result.accepted,
                duplicates=result.duplicates,
                rejected=[r.as_json() for r in result.rejected],
            )
        return Response(status_code=201)

    signals: tuple[Signal, ...] = ("metrics", "logs", "traces")
    for signal in signals:
        router.add_api_route(
            f"/v1/{signal}",
            _otlp_handler(store, signal, max_body_bytes),
            methods=["POST"],
            tags=["ingest"],
            summary=f"Ingest OTLP {signal} (OTLP/HTTP, JSON or protobuf)",
            responses={
                200: {
                    "description": "Stored (committed); rejected points are counted in the "
                    "OTLP partialSuccess",
                    "content": {
                        "application/json": {"schema": {"type": "object"}},
                        "application/x-protobuf": _PROTOBUF,
                    },
                },
                **error_responses(400, 401, 413, 415),
            },
            openapi_extra=_otlp_body(signal),
        )
    return router


def _otlp_handler(store: Store, signal: Signal, max_body_bytes: int) -> Any:
    async def handler(request: Request) -> Response:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in OTLP_TYPES:
            return error_response(
                415, f"Content-Type must be one of {', '.join(OTLP_TYPES)}, got {content_type!r}"
            )
        try:
            body = await read_body(request, max_body_bytes, f"otlp.{signal}", store)
        except BodyError as exc:
            return error_response(exc.status, exc.reason)
        try:
            result = await run_in_threadpool(
                ingest_otlp,
                store,
                signal,
                body,
                content_type,
                origin=request.url.path,
            )
        except InputError as exc:
            return error_response(400, exc.reason, exc.field)
        return Response(
            encode_otlp_response(signal, result, content_type),
            status_code=200,
            media_type=content_type,
        )

    handler.__name__ = f"post_otlp_{signal}"
    return handler
