"""OpenAI-compatible servers (vLLM, TGI, Ollama, KServe's Hugging Face runtime, OpenAI, and
AI Playground itself) over `/chat/completions` and `/completions`, streamed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

from aiplayground.chat.params import ALL_PARAMS, GenerationParams
from aiplayground.chat.provider import CancelToken, Chunk, Prompt, estimate_tokens
from aiplayground.chat.providers.remote import RemoteProvider, final_chunk
from aiplayground.errors import ValidationFailed

KIND = "openai"
# What every OpenAI-compatible server takes; servers that take more (vLLM: top_k,
# repetition_penalty) list those names in the model's `serving.extra_params`.
SUPPORTED = frozenset(
    {
        "max_new_tokens",
        "temperature",
        "top_p",
        "stop",
        "seed",
        "presence_penalty",
        "frequency_penalty",
    }
)


class OpenAIProvider(RemoteProvider):
    """Streams from an OpenAI-compatible server; usage comes from the server."""

    kind = KIND

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        extra = self.serving.get("extra_params") or []
        unknown = set(extra) - ALL_PARAMS
        if not isinstance(extra, list) or unknown:
            raise ValidationFailed(
                f"serving.extra_params of model {self.name!r} must list generation parameter "
                f"names; unknown: {', '.join(sorted(unknown)) or extra!r}"
            )
        self.extra = frozenset(extra)
        self.supported_params = SUPPORTED | self.extra

    def body(self, prompt: Prompt, params: GenerationParams) -> dict[str, Any]:
        """The request body in OpenAI's terms (extension parameters under their own names)."""
        body: dict[str, Any] = {"model": self.remote_name, "stream": True}
        if self.serving.get("stream_usage", True):
            body["stream_options"] = {"include_usage": True}
        if isinstance(prompt, str):
            body["prompt"] = prompt
        else:
            body["messages"] = [{"role": m.role, "content": m.content} for m in prompt]
        values = params.model_dump(exclude_none=True)
        if "max_new_tokens" in values:
            body["max_tokens"] = values.pop("max_new_tokens")
        body.update(values)
        return body

    async def stream(
        self, prompt: Prompt, params: GenerationParams, cancel: CancelToken
    ) -> AsyncIterator[Chunk]:
        """Stream one completion; the start chunk comes once the server accepted it."""
        path = "/completions" if isinstance(prompt, str) else "/chat/completions"
        finish: str | None = None
        usage: dict[str, Any] | None = None
        pieces = 0
        async with aclosing(self.events(path, self.body(prompt, params), cancel)) as events:
            async for event in events:
                if event is None:
                    yield Chunk(prompt_tokens=estimate_tokens(prompt))
                    continue
                if event.get("usage"):
                    usage = event["usage"]
                for choice in event.get("choices") or []:
                    text = choice.get("text")
                    if text is None:
                        text = (choice.get("delta") or {}).get("content")
                    if text:
                        pieces += 1
                        yield Chunk(text=text, tokens=1)
                    finish = choice.get("finish_reason") or finish
        yield final_chunk(prompt, cancel, finish, usage, pieces)
