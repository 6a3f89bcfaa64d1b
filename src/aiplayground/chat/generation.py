"""One admitted generation: its stream, what it produced so far, usage and timings."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiplayground.chat.params import GenerationParams
from aiplayground.chat.pool import ServedModel
from aiplayground.chat.provider import CancelToken, Chunk, Prompt, Usage


class Generation:
    """Started by `ChatService.generate`; iterate `chunks()` once (or `collect()`)."""

    def __init__(
        self,
        served: ServedModel,
        prompt: Prompt,
        params: GenerationParams,
        *,
        cancel: CancelToken | None = None,
        on_done: Callable[[], None] = lambda: None,
        started: float | None = None,
    ) -> None:
        self.served = served
        self.params = params
        self.cancel = cancel or CancelToken()
        self.usage = Usage()
        self.parts: list[str] = []
        self.started = started if started is not None else time.perf_counter()
        self._stream = served.provider.stream(prompt, params, self.cancel)
        self._on_done = on_done
        self._done = False

    @property
    def model(self) -> str:
        """The catalog name of the model that answers."""
        return self.served.info.name

    @property
    def text(self) -> str:
        """The answer so far."""
        return "".join(self.parts)

    async def start(self) -> None:
        """Wait until the provider accepted the request (errors surface here, before output)."""
        try:
            first = await anext(self._stream)
        except BaseException:
            self._finish()
            raise
        self.usage.prompt_tokens = first.prompt_tokens or 0

    async def chunks(self) -> AsyncIterator[Chunk]:
        """Text chunks, then the final chunk (finish reason and counts)."""
        finished = False
        try:
            async for chunk in self._stream:
                if chunk.text:
                    if self.usage.ttft_s is None:
                        self.usage.ttft_s = time.perf_counter() - self.started
                    self.parts.append(chunk.text)
                    self.usage.completion_tokens += chunk.tokens
                if chunk.finish_reason:
                    finished = True
                    self._close_usage(chunk)
                yield chunk
        finally:
            if not finished:
                # The consumer stopped early (client gone, error): free the model now.
                self.cancel.cancel()
                self.usage.finish_reason = "cancelled"
                self.usage.duration_s = time.perf_counter() - self.started
            self._finish()
            aclose = getattr(self._stream, "aclose", None)
            if aclose is not None:
                # The provider's own cleanup; a cancellation still propagates.
                with contextlib.suppress(Exception):
                    await aclose()

    def abandon(self) -> None:
        """Nobody will read on: stop generating and give the slot back (no-op when done)."""
        if not self._done:
            self.cancel.cancel()
            self.usage.finish_reason = "cancelled"
            self._finish()

    async def collect(self) -> str:
        """Run to the end and return the whole answer."""
        async for _ in self.chunks():
            pass
        return self.text

    def timings(self) -> dict[str, Any]:
        """Stored with the answer: time to first token, duration, decode speed."""
        usage = self.usage
        rate = usage.tokens_per_s
        return {
            "ttft_s": round(usage.ttft_s, 4) if usage.ttft_s is not None else None,
            "duration_s": round(usage.duration_s, 4),
            "tokens_per_s": round(rate, 2) if rate is not None else None,
            "prompt_tokens": usage.prompt_tokens,
        }

    def _close_usage(self, chunk: Chunk) -> None:
        usage = self.usage
        usage.finish_reason = chunk.finish_reason or "stop"
        if chunk.prompt_tokens is not None:
            usage.prompt_tokens = chunk.prompt_tokens
        if chunk.completion_tokens is not None:
            usage.completion_tokens = chunk.completion_tokens
        usage.duration_s = time.perf_counter() - self.started

    def _finish(self) -> None:
        if not self._done:
            self._done = True
            self._on_done()
