"""KServe / Open Inference Protocol generate extension: `/v2/models/{name}/generate_stream`.

The generate API takes text, not chat messages: a chat is rendered as plain
"System/User/Assistant:" lines (serve chat models over the OpenAI protocol when the
server offers it, to use their own chat template).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any
from urllib.parse import quote

from aiplayground.chat.params import GenerationParams
from aiplayground.chat.provider import CancelToken, ChatMessage, Chunk, Prompt, estimate_tokens
from aiplayground.chat.providers.remote import RemoteProvider, final_chunk

KIND = "kserve-v2"
SUPPORTED = frozenset(
    {"max_new_tokens", "temperature", "top_k", "top_p", "repetition_penalty", "stop", "seed"}
)
NAMES = {"max_new_tokens": "max_tokens"}


def render_chat(messages: list[ChatMessage]) -> str:
    """A chat as plain text ending where the assistant's answer starts."""
    lines = [f"{m.role.capitalize()}: {m.content}" for m in messages]
    return "\n".join([*lines, "Assistant:"])


class KServeV2Provider(RemoteProvider):
    """Streams `text_output` pieces from a v2 generate endpoint."""

    kind = KIND
    supported_params = SUPPORTED

    def body(self, prompt: Prompt, params: GenerationParams) -> dict[str, Any]:
        """`{"text_input": ..., "parameters": {...}}`."""
        text = prompt if isinstance(prompt, str) else render_chat(prompt)
        values = params.model_dump(exclude_none=True)
        return {
            "text_input": text,
            "parameters": {NAMES.get(k, k): v for k, v in values.items()},
        }

    async def stream(
        self, prompt: Prompt, params: GenerationParams, cancel: CancelToken
    ) -> AsyncIterator[Chunk]:
        """Stream one generation; token counts are estimates (the protocol has none)."""
        path = f"/v2/models/{quote(self.remote_name, safe='')}/generate_stream"
        finish: str | None = None
        pieces = 0
        async with aclosing(self.events(path, self.body(prompt, params), cancel)) as events:
            async for event in events:
                if event is None:
                    yield Chunk(prompt_tokens=estimate_tokens(prompt))
                    continue
                text = event.get("text_output")
                if isinstance(text, str) and text:
                    pieces += 1
                    yield Chunk(text=text, tokens=1)
                finish = event.get("finish_reason") or finish
        yield final_chunk(prompt, cancel, finish, None, pieces)
