"""The `LLMProvider` interface every text-generation backend implements, and its vocabulary."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from aiplayground.chat.params import GenerationParams

ROLES = ("system", "user", "assistant")
FINISH_REASONS = ("stop", "length", "cancelled")


@dataclass(frozen=True)
class ChatMessage:
    """One message of a chat prompt."""

    role: str
    content: str


# A chat (rendered with the model's chat template) or a raw text prompt (completions).
Prompt = list[ChatMessage] | str


@dataclass
class Chunk:
    """A piece of a streamed answer.

    A stream yields first a start chunk (no text, `prompt_tokens` set) once the request
    is accepted, then text chunks, and last a chunk with `finish_reason` and the counts.
    """

    text: str = ""
    tokens: int = 0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None


class CancelToken:
    """A thread-safe "stop now" flag that also runs callbacks once when it fires."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fired = False
        self._callbacks: list[Callable[[], None]] = []

    @property
    def cancelled(self) -> bool:
        """True once `cancel` was called."""
        return self._fired

    def cancel(self) -> None:
        """Fire: run the callbacks (once) and stay cancelled."""
        with self._lock:
            if self._fired:
                return
            self._fired = True
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    def on_cancel(self, callback: Callable[[], None]) -> None:
        """Run `callback` when cancelled (at once if already cancelled)."""
        with self._lock:
            if not self._fired:
                self._callbacks.append(callback)
                return
        callback()


@dataclass(frozen=True)
class ProviderState:
    """What the Chat page's status dot shows."""

    state: str  # "loaded", "loading", "unloaded", "remote", "failed"
    detail: str = ""
    queued: int = 0


@runtime_checkable
class LLMProvider(Protocol):
    """A text-generation backend: one streaming call, token counting, context window."""

    kind: str
    supported_params: frozenset[str]

    async def context_window(self) -> int:
        """The most tokens prompt and answer may take together."""
        ...

    async def count_tokens(self, prompt: Prompt) -> int:
        """Tokens the prompt takes once rendered (chat template included); may estimate."""
        ...

    def stream(
        self, prompt: Prompt, params: GenerationParams, cancel: CancelToken
    ) -> AsyncIterator[Chunk]:
        """Generate: start chunk, text chunks, final chunk (see `Chunk`).

        Raises PlaygroundError before the start chunk for a request that cannot run
        (prompt longer than the context: InvalidInput). After `cancel` fires, or when the
        consumer stops iterating, generation stops within about a second.
        """
        ...

    def state(self) -> ProviderState:
        """Loaded, loading, unloaded, remote or failed."""
        ...

    async def close(self) -> None:
        """Release the model (stop its worker, close connections)."""
        ...


@dataclass
class Usage:
    """Token counts and timings of one generation."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    ttft_s: float | None = None
    duration_s: float = 0.0
    finish_reason: str = "stop"
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def tokens_per_s(self) -> float | None:
        """Decode speed after the first token."""
        if self.ttft_s is None or self.completion_tokens < 2:
            return None
        decode = self.duration_s - self.ttft_s
        return (self.completion_tokens - 1) / decode if decode > 0 else None


def estimate_tokens(prompt: Prompt) -> int:
    """A tokenizer-free estimate (about 4 characters a token, plus per-message overhead)."""
    if isinstance(prompt, str):
        return len(prompt) // 4 + 1
    return sum(len(m.content) // 4 + 4 for m in prompt) + 2
