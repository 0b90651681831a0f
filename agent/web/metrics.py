"""``/metrics``: the KPIs in Prometheus text format, computed at scrape time."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry

from agent.web.kpis import KpiCollector
from tools.store.db import Store


def mount_metrics(app: FastAPI, store: Store, *, clock: Callable[[], int]) -> None:
    # A registry of our own: the process-global one would mix in every app built in-process.
    registry = CollectorRegistry(auto_describe=False)
    registry.register(KpiCollector(store, clock))

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
