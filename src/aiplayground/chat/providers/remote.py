"""What the remote providers share: the SSRF-safe client, server-sent events, error mapping."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator
from typing import Any

import httpx
import orjson

from aiplayground.chat.provider import CancelToken, Chunk, Prompt, ProviderState, estimate_tokens
from aiplayground.errors import (
    InvalidInput,
    RateLimited,
    UpstreamError,
    UpstreamTimeout,
)
from aiplayground.net import UrlPolicy


class RemoteProvider:
    """Base of providers that call a model server over HTTP (checked by the URL policy)."""

    kind = "remote"
    supported_params: frozenset[str] = frozenset()

    def __init__(
        self,
        *,
        name: str,
        url: str,
        remote_name: str,
        policy: UrlPolicy,
        api_key: str | None,
        timeout_s: float,
        serving: dict[str, Any],
    ) -> None:
        self.name = name
        self.url = url.rstrip("/")
        self.remote_name = remote_name
        self.policy = policy
        self.api_key = api_key
        self.timeout_s = timeout_s
        self.serving = serving

    async def context_window(self) -> int:
        """From the model's `serving.context_window` (remote servers do not say)."""
        return int(self.serving.get("context_window") or 4096)

    async def count_tokens(self, prompt: Prompt) -> int:
        """An estimate: the remote tokenizer is not at hand."""
        return estimate_tokens(prompt)

    def state(self) -> ProviderState:
        """Remote models are served elsewhere."""
        return ProviderState("remote", self.url)

    async def close(self) -> None:
        """Nothing is held between requests."""

    def client(self) -> httpx.AsyncClient:
        """A client for one request (connections belong to the calling event loop)."""
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        return self.policy.async_client(timeout=self.timeout_s, headers=headers)

    async def events(
        self, path: str, body: dict[str, Any], cancel: CancelToken
    ) -> AsyncGenerator[dict[str, Any] | None, None]:
        """POST and yield each server-sent `data:` object; None once the response started."""
        url = f"{self.url}{path}"
        async with self.client() as client:
            try:
                response = await self.policy.arequest(
                    client,
                    "POST",
                    url,
                    stream=True,
                    content=orjson.dumps(body),
                    headers={"content-type": "application/json", "accept": "text/event-stream"},
                )
            except httpx.TimeoutException as exc:
                raise UpstreamTimeout(f"{self.url} did not answer in time") from exc
            except httpx.TransportError as exc:
                raise UpstreamError(f"{self.url} is not reachable: {exc}") from exc
            try:
                if not response.is_success:
                    await response.aread()
                    raise upstream_error(self.url, response)
                yield None
                async for line in response.aiter_lines():
                    if cancel.cancelled:
                        return
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        return
                    with contextlib.suppress(orjson.JSONDecodeError):
                        event = orjson.loads(data)
                        if isinstance(event, dict):
                            if "error" in event:
                                raise UpstreamError(f"{self.url}: {_message(event)}")
                            yield event
            except httpx.TimeoutException as exc:
                raise UpstreamTimeout(f"{self.url} stopped sending within the timeout") from exc
            except httpx.TransportError as exc:
                raise UpstreamError(f"{self.url} broke off the answer: {exc}") from exc
            finally:
                await response.aclose()


def _message(payload: Any) -> str:
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or error)
    return str(error or payload)[:500]


def upstream_error(url: str, response: httpx.Response) -> Exception:
    """The platform error for a remote model server's error answer."""
    try:
        payload = response.json()
    except ValueError:
        payload = response.text[:500]
    message = _message(payload) if isinstance(payload, dict) else str(payload)
    status = response.status_code
    if status == 429:
        retry = response.headers.get("retry-after", "1")
        return RateLimited(
            f"{url} is busy: {message}", retry_after=float(retry) if retry.isdigit() else 1.0
        )
    if status in (400, 422):
        param = None
        if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
            param = payload["error"].get("param")
        return InvalidInput(
            f"the remote model refused the request: {message}", details={"param": param}
        )
    if status in (401, 403):
        return UpstreamError(f"{url} refused the request ({status}); check the endpoint's API key")
    return UpstreamError(f"{url} answered {status}: {message}", details={"status": status})


def final_chunk(
    prompt: Prompt,
    cancel: CancelToken,
    finish: str | None,
    usage: dict[str, Any] | None,
    pieces: int,
) -> Chunk:
    """The closing chunk, with the server's usage when it sent one, else estimates."""
    usage = usage or {}
    return Chunk(
        finish_reason="cancelled" if cancel.cancelled else (finish or "stop"),
        prompt_tokens=int(usage.get("prompt_tokens") or estimate_tokens(prompt)),
        completion_tokens=int(usage.get("completion_tokens") or pieces),
    )
