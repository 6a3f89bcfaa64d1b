"""The SSE response always runs its cleanup, even when its body is never read."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from aiplayground.api.routes.chat import EventStream, sse


async def test_cleanup_runs_when_the_client_left_before_the_first_byte() -> None:
    started: list[bool] = []
    closed: list[bool] = []

    async def body() -> AsyncIterator[bytes]:
        started.append(True)
        await asyncio.sleep(10)
        yield b""

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        await asyncio.sleep(0.01)

    scope = {"type": "http", "asgi": {"spec_version": "2.3"}, "method": "POST", "headers": []}
    await EventStream(body(), lambda: closed.append(True))(scope, receive, send)
    assert closed == [True]


def test_events_are_named_json_lines() -> None:
    assert sse("delta", {"text": "é"}) == 'event: delta\ndata: {"text":"é"}\n\n'.encode()
    assert sse(None, {"a": 1}) == b'data: {"a":1}\n\n'
