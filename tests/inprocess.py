"""A synchronous httpx transport that calls an ASGI app in-process (for the SDK and CLI)."""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

import anyio.from_thread
import httpx


class InProcessTransport(httpx.BaseTransport):
    """Runs each request through `httpx.ASGITransport` on a private event-loop thread."""

    def __init__(self, app: Any) -> None:
        self._stack = ExitStack()
        self._portal = self._stack.enter_context(anyio.from_thread.start_blocking_portal())
        self._inner = httpx.ASGITransport(app=app)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()

        async def call() -> httpx.Response:
            inner = httpx.Request(
                request.method, request.url, headers=request.headers, content=body
            )
            response = await self._inner.handle_async_request(inner)
            content = await response.aread()
            return httpx.Response(response.status_code, headers=response.headers, content=content)

        return self._portal.call(call)

    def close(self) -> None:
        self._stack.close()
