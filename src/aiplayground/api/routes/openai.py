"""OpenAI-compatible serving of every catalog text-generation model: /openai/v1.

base_url `http://host/openai/v1` and an AI Playground API token as the api_key make the
official `openai` client work unchanged. Errors use OpenAI's error shape (`api.errors`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from aiplayground.api.deps import CurrentPrincipal
from aiplayground.api.routes.chat import EventStream, chat_service, until_done
from aiplayground.chat.generation import Generation
from aiplayground.chat.openai_codec import (
    OpenAIRequest,
    Responder,
    decode_body,
    error_event,
    parse_request,
)
from aiplayground.errors import NotFound, PlaygroundError, TooLarge

router = APIRouter(prefix="/openai/v1", tags=["openai"])
JSON_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


def _json(data: Any) -> Response:
    return Response(orjson.dumps(data), media_type="application/json")


def _model(info: Any) -> dict[str, Any]:
    return {
        "id": info.name,
        "object": "model",
        "created": int(info.created_at.timestamp()),
        "owned_by": info.owner,
    }


@router.get("/models")
async def list_models(request: Request, caller: CurrentPrincipal) -> Response:
    """Every text-generation model you can use."""
    models = await run_in_threadpool(chat_service(request).text_models, caller)
    return _json({"object": "list", "data": [_model(m) for m in models]})


@router.get("/models/{name}")
async def get_model(name: str, request: Request, caller: CurrentPrincipal) -> Response:
    """One text-generation model."""
    models = await run_in_threadpool(chat_service(request).text_models, caller)
    for info in models:
        if info.name == name:
            return _json(_model(info))
    raise NotFound(f"no text-generation model {name!r}")


async def _body(request: Request) -> dict[str, Any]:
    limit = request.app.state.platform.settings.limits.max_json_bytes
    raw = bytearray()
    async for part in request.stream():
        raw += part
        if len(raw) > limit:
            raise TooLarge(f"the request body exceeds {limit} bytes")
    return decode_body(bytes(raw))


@router.post("/chat/completions", openapi_extra=JSON_BODY)
async def chat_completions(request: Request, caller: CurrentPrincipal) -> Response:
    """Chat completion, streamed as server-sent events with `stream: true`."""
    return await _complete(request, caller, parse_request(await _body(request), "chat"))


@router.post("/completions", openapi_extra=JSON_BODY)
async def completions(request: Request, caller: CurrentPrincipal) -> Response:
    """Text completion of a raw prompt (no chat template)."""
    return await _complete(request, caller, parse_request(await _body(request), "text"))


async def _complete(request: Request, caller: Any, parsed: OpenAIRequest) -> Response:
    service = chat_service(request)
    generation = await service.generate(
        caller, parsed.model, parsed.prompt, parsed.params, version=parsed.version
    )
    responder = Responder(parsed, generation.model)
    if not parsed.stream:
        text = await until_done(request, generation.collect(), generation.cancel)
        return _json(responder.complete(text, generation.usage))
    return EventStream(_events(generation, responder, parsed.include_usage), generation.abandon)


async def _events(
    generation: Generation, responder: Responder, include_usage: bool
) -> AsyncIterator[bytes]:
    first = True
    try:
        async for chunk in generation.chunks():
            if chunk.text:
                yield _data(responder.chunk(chunk.text, first=first))
                first = False
            if chunk.finish_reason:
                yield _data(responder.chunk(None, chunk.finish_reason, first=first))
        if include_usage:
            yield _data(responder.usage_chunk(generation.usage))
    except PlaygroundError as exc:
        yield _data(error_event(exc.code, exc.message))
    yield b"data: [DONE]\n\n"


def _data(payload: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"
