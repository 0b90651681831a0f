"""HTTP ingestion: the OpenLineage route Marquez serves and the OTLP/HTTP routes.

Every route answers only after the transaction has committed, so a 2xx means durable.
Bad input is a 4xx naming the problem (and is kept in the dead-letter table); a 5xx means
a bug in flowsleuth, never a bad payload.
"""

from __future__ import annotations

import asyncio
import gzip
import zlib
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from tools.ingest.deadletters import record_dead_letter
from tools.ingest.group_commit import GroupCommitWriter
from tools.ingest.openlineage import decode_json_items, keep_rejected, parse_items
from tools.ingest.otlp import Signal, encode_otlp_response, ingest_otlp
from tools.ingest.result import IngestResult, InputError
from tools.store.db import Store
from tools.store.models import now_micros

OTLP_TYPES = ("application/json", "application/x-protobuf")


class BodyError(Exception):
    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        self.reason = reason
        super().__init__(reason)


def error_response(
    status: int, reason: str, field: str | None = None, **extra: Any
) -> JSONResponse:
    body: dict[str, Any] = {"error": reason}
    if field:
        body["field"] = field
    body.update(extra)
    return JSONResponse(body, status_code=status)


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


def build_router(store: Store, *, max_body_bytes: int) -> APIRouter:
    router = APIRouter()
    writer = GroupCommitWriter(store)
    router.add_event_handler("shutdown", writer.close)

    @router.post(
        "/api/v1/lineage",
        status_code=201,
        tags=["ingest"],
        summary="Ingest OpenLineage events (Marquez-compatible)",
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
