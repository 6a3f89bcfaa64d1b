"""Chat calls of the SDK: OpenAI-compatible completions, conversations, prompt templates."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx


def _messages(messages: str | list[dict[str, str]]) -> list[dict[str, str]]:
    return [{"role": "user", "content": messages}] if isinstance(messages, str) else messages


def _openai_params(params: dict[str, Any]) -> dict[str, Any]:
    # The SDK speaks the platform's vocabulary; the OpenAI route calls it max_tokens.
    params = dict(params)
    if "max_new_tokens" in params:
        params["max_tokens"] = params.pop("max_new_tokens")
    return params


def iter_sse(response: httpx.Response) -> Iterator[tuple[str, Any]]:
    """(event, decoded data) pairs of a server-sent-events response."""
    event = ""
    for line in response.iter_lines():
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data = line[5:].strip()
            yield event, (data if data == "[DONE]" else json.loads(data))
        elif not line:
            event = ""


class ChatMixin:
    """Methods for /openai/v1, /api/v1/conversations and /api/v1/prompt-templates."""

    http: httpx.Client

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """Provided by `Client`."""
        raise NotImplementedError

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Provided by `Client`."""
        raise NotImplementedError

    # OpenAI-compatible -------------------------------------------------------------------

    def chat_models(self) -> list[str]:
        """Names of the text-generation models you can chat with."""
        return [m["id"] for m in self.json("GET", "/openai/v1/models")["data"]]

    def chat(
        self,
        model: str,
        messages: str | list[dict[str, str]],
        stream: bool = False,
        **params: Any,
    ) -> Any:
        """One chat completion (OpenAI's response dict), or with stream=True an iterator of
        `{"text": ...}` pieces ending with `{"finish_reason": ..., "usage": {...}}`.

        params: generation parameters (max_new_tokens, temperature, top_k, seed, ...).
        """
        body = {"model": model, "messages": _messages(messages), **_openai_params(params)}
        if not stream:
            return self.json("POST", "/openai/v1/chat/completions", json=body)
        body.update(stream=True, stream_options={"include_usage": True})
        return self._stream_completion(body)

    def _stream_completion(self, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        from aiplayground.sdk.client import raise_for_error

        finish: str | None = None
        with self.http.stream("POST", "/openai/v1/chat/completions", json=body) as response:
            if not response.is_success:
                response.read()
                raise_for_error(response)
            for _, data in iter_sse(response):
                if data == "[DONE]":
                    break
                if "error" in data:
                    raise_for_error(httpx.Response(500, json=data))
                for choice in data.get("choices") or []:
                    text = (choice.get("delta") or {}).get("content")
                    if text:
                        yield {"text": text}
                    finish = choice.get("finish_reason") or finish
                if data.get("usage"):
                    yield {"finish_reason": finish, "usage": data["usage"]}

    # conversations -----------------------------------------------------------------------

    def create_conversation(self, model: str, **fields: Any) -> dict[str, Any]:
        """Start a conversation (title, settings, system_prompt, template_id, memory_messages)."""
        result: dict[str, Any] = self.json(
            "POST", "/api/v1/conversations", json={"model": model, **fields}
        )
        return result

    def list_conversations(self, **filters: Any) -> dict[str, Any]:
        """A page of your conversations: filters q, limit, offset."""
        params = {k: v for k, v in filters.items() if v is not None}
        result: dict[str, Any] = self.json("GET", "/api/v1/conversations", params=params)
        return result

    def get_conversation(self, conversation_id: str) -> dict[str, Any]:
        """A conversation with its messages."""
        result: dict[str, Any] = self.json("GET", f"/api/v1/conversations/{conversation_id}")
        return result

    def update_conversation(self, conversation_id: str, **changes: Any) -> dict[str, Any]:
        """Rename, or change model, settings, template, memory."""
        result: dict[str, Any] = self.json(
            "PATCH", f"/api/v1/conversations/{conversation_id}", json=changes
        )
        return result

    def delete_conversation(self, conversation_id: str) -> None:
        """Delete a conversation."""
        self.request("DELETE", f"/api/v1/conversations/{conversation_id}")

    def export_conversation(self, conversation_id: str, format: str = "markdown") -> str:
        """The conversation as Markdown or JSON text."""
        path = f"/api/v1/conversations/{conversation_id}/export"
        return self.request("GET", path, params={"format": format}).text

    def send_message(
        self, conversation_id: str, content: str, stream: bool = False, **settings: Any
    ) -> Any:
        """Ask in a conversation: `{"user", "assistant"}` messages, or with stream=True an
        iterator of (event, data): start, sources, delta..., done or error."""
        body = {"content": content, "settings": settings, "stream": stream}
        return self._conversation_call(f"{conversation_id}/messages", body, stream)

    def regenerate(self, conversation_id: str, stream: bool = False, **settings: Any) -> Any:
        """Answer the last user message again (see `send_message`)."""
        body = {"settings": settings, "stream": stream}
        return self._conversation_call(f"{conversation_id}/regenerate", body, stream)

    def cancel_answer(self, conversation_id: str) -> bool:
        """Stop the answer being generated; False if none was running."""
        path = f"/api/v1/conversations/{conversation_id}/cancel"
        return bool(self.json("POST", path)["cancelled"])

    def _conversation_call(self, path: str, body: dict[str, Any], stream: bool) -> Any:
        url = f"/api/v1/conversations/{path}"
        if not stream:
            return self.json("POST", url, json=body)
        return self._stream_events(url, body)

    def _stream_events(self, url: str, body: dict[str, Any]) -> Iterator[tuple[str, Any]]:
        from aiplayground.sdk.client import raise_for_error

        with self.http.stream("POST", url, json=body) as response:
            if not response.is_success:
                response.read()
                raise_for_error(response)
            yield from iter_sse(response)

    # prompt templates --------------------------------------------------------------------

    def create_prompt_template(
        self, name: str, messages: list[Any], **fields: Any
    ) -> dict[str, Any]:
        """Save a prompt template (description, visibility) as version 1."""
        body = {"name": name, "messages": messages, **fields}
        result: dict[str, Any] = self.json("POST", "/api/v1/prompt-templates", json=body)
        return result

    def list_prompt_templates(self, **filters: Any) -> dict[str, Any]:
        """Your templates and public ones: filters q, limit, offset."""
        params = {k: v for k, v in filters.items() if v is not None}
        result: dict[str, Any] = self.json("GET", "/api/v1/prompt-templates", params=params)
        return result

    def get_prompt_template(self, template_id: str) -> dict[str, Any]:
        """A template with its latest content."""
        result: dict[str, Any] = self.json("GET", f"/api/v1/prompt-templates/{template_id}")
        return result

    def add_prompt_template_version(self, template_id: str, messages: list[Any]) -> dict[str, Any]:
        """Save new content as the template's next version."""
        result: dict[str, Any] = self.json(
            "POST",
            f"/api/v1/prompt-templates/{template_id}/versions",
            json={"messages": messages},
        )
        return result

    def delete_prompt_template(self, template_id: str) -> None:
        """Delete a template and its versions."""
        self.request("DELETE", f"/api/v1/prompt-templates/{template_id}")
