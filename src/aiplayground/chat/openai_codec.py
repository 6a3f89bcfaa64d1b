"""OpenAI's chat/completions wire format <-> the chat vocabulary.

Anything a request asks for that cannot be honoured is refused with 400 naming the
parameter (OpenAI's `param`), never dropped. Extension parameters (top_k,
repetition_penalty, do_sample, num_beams, ...) are accepted under their own names, as
vLLM does; with the `openai` client they go in `extra_body`.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from aiplayground.chat.params import ALL_PARAMS, GenerationParams, parse_params
from aiplayground.chat.provider import ChatMessage, Prompt, Usage
from aiplayground.errors import InvalidInput

RENAMED = {"max_tokens": "max_new_tokens", "max_completion_tokens": "max_new_tokens"}
# Accepted and meaningless here: who the end user is.
INFORMATIONAL = frozenset({"user"})
# Accepted only with the value that asks for nothing special.
NEUTRAL: dict[str, Any] = {
    "n": 1,
    "best_of": 1,
    "logprobs": False,
    "echo": False,
    "parallel_tool_calls": False,
}
ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
FINISH = {"stop": "stop", "length": "length", "cancelled": "stop"}


@dataclass
class OpenAIRequest:
    """A parsed chat or completions request."""

    model: str
    version: str | None
    prompt: Prompt
    params: GenerationParams
    stream: bool
    include_usage: bool
    kind: str  # "chat" or "text"


def _bad(message: str, param: str) -> InvalidInput:
    return InvalidInput(message, details={"param": param})


def decode_body(raw: bytes) -> dict[str, Any]:
    """The JSON object of a request body."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"the request body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise InvalidInput("the request body must be a JSON object")
    return body


def parse_request(body: dict[str, Any], kind: str) -> OpenAIRequest:
    """Validate a /chat/completions (kind "chat") or /completions ("text") body."""
    body = {k: v for k, v in body.items() if v is not None}
    model = body.pop("model", None)
    if not isinstance(model, str) or not model:
        raise _bad("'model' is required: the name of a catalog text-generation model", "model")
    name, _, version = model.partition(":")
    prompt = _chat_prompt(body.pop("messages", None)) if kind == "chat" else _text_prompt(body)
    stream = body.pop("stream", False)
    if not isinstance(stream, bool):
        raise _bad("'stream' must be true or false", "stream")
    options = body.pop("stream_options", {})
    if not isinstance(options, dict) or set(options) - {"include_usage"}:
        raise _bad("stream_options supports only include_usage", "stream_options")
    if kind == "text" and "suffix" in body:
        raise _bad("'suffix' (fill-in-the-middle) is not supported", "suffix")
    if body.get("response_format") in ({"type": "text"},):
        body.pop("response_format")
    values: dict[str, Any] = {}
    for key, value in body.items():
        if key in INFORMATIONAL:
            continue
        if key in NEUTRAL:
            if value != NEUTRAL[key] and not (key == "logprobs" and value in (0, False)):
                raise _bad(f"'{key}' is supported only as {NEUTRAL[key]!r}", key)
            continue
        target = RENAMED.get(key, key)
        if target not in ALL_PARAMS:
            raise _bad(f"unsupported parameter '{key}'", key)
        values[target] = value
    params = parse_params(values, "the request")
    return OpenAIRequest(
        model=name,
        version=version or None,
        prompt=prompt,
        params=params,
        stream=stream,
        include_usage=bool(options.get("include_usage")),
        kind=kind,
    )


def _chat_prompt(messages: Any) -> list[ChatMessage]:
    if not isinstance(messages, list) or not messages:
        raise _bad("'messages' must be a non-empty list", "messages")
    prompt: list[ChatMessage] = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise _bad(f"messages[{index}] must be an object", "messages")
        role = ROLES.get(str(message.get("role")))
        if role is None:
            raise _bad(
                f"messages[{index}].role {message.get('role')!r} is not supported; use "
                "system, developer, user or assistant",
                "messages",
            )
        extra = set(message) - {"role", "content", "name"}
        if extra:
            raise _bad(f"messages[{index}].{sorted(extra)[0]} is not supported", "messages")
        prompt.append(ChatMessage(role, _content(message.get("content"), index)))
    return prompt


def _content(content: Any, index: int) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text":
                raise _bad(f"messages[{index}]: only text content parts are supported", "messages")
            texts.append(str(part.get("text", "")))
        return "".join(texts)
    raise _bad(f"messages[{index}].content must be text", "messages")


def _text_prompt(body: dict[str, Any]) -> str:
    prompt = body.pop("prompt", None)
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise _bad("'prompt' must be one string (batches of prompts are not supported)", "prompt")
    body.setdefault("max_tokens", 16)  # OpenAI's default for completions
    return prompt


# responses -------------------------------------------------------------------------------


class Responder:
    """Builds the response objects of one request (same id and timestamp throughout)."""

    def __init__(self, request: OpenAIRequest, model: str) -> None:
        prefix = "chatcmpl" if request.kind == "chat" else "cmpl"
        self.id = f"{prefix}-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.model = model
        self.kind = request.kind

    def _envelope(self, stream: bool) -> dict[str, Any]:
        if self.kind == "chat":
            kind = "chat.completion.chunk" if stream else "chat.completion"
        else:
            kind = "text_completion"
        return {"id": self.id, "object": kind, "created": self.created, "model": self.model}

    def chunk(
        self, text: str | None, finish: str | None = None, *, first: bool = False
    ) -> dict[str, Any]:
        """A streamed piece (text, or the closing finish reason)."""
        reason = FINISH.get(finish, "stop") if finish else None
        if self.kind == "chat":
            delta: dict[str, Any] = {"role": "assistant"} if first else {}
            if text is not None:
                delta["content"] = text
            choice: dict[str, Any] = {"index": 0, "delta": delta, "logprobs": None}
        else:
            choice = {"index": 0, "text": text or "", "logprobs": None}
        choice["finish_reason"] = reason
        return {**self._envelope(True), "choices": [choice]}

    def usage_chunk(self, usage: Usage) -> dict[str, Any]:
        """The closing chunk with usage (stream_options.include_usage)."""
        return {**self._envelope(True), "choices": [], "usage": usage_of(usage)}

    def complete(self, text: str, usage: Usage) -> dict[str, Any]:
        """The whole answer (stream: false)."""
        reason = FINISH.get(usage.finish_reason, "stop")
        if self.kind == "chat":
            choice: dict[str, Any] = {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "logprobs": None,
                "finish_reason": reason,
            }
        else:
            choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": reason}
        return {**self._envelope(False), "choices": [choice], "usage": usage_of(usage)}


def usage_of(usage: Usage) -> dict[str, int]:
    """OpenAI's usage object."""
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
    }


def error_event(code: str, message: str) -> dict[str, Any]:
    """An error inside a stream, in OpenAI's shape (its client raises on it)."""
    return {"error": {"message": message, "type": code, "param": None, "code": code}}
