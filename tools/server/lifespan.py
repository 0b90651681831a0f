"""Adding start/stop work to a FastAPI app's lifespan after the app was built."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI


def chain_lifespan(app: FastAPI, inner: Callable[[], AbstractAsyncContextManager[Any]]) -> None:
    """Run ``inner()`` around the app's existing lifespan: entered before it starts,
    left after it stops (so what ``inner`` starts outlives every request)."""
    outer = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[Any]:
        async with inner(), outer(a) as state:
            yield state

    app.router.lifespan_context = lifespan
