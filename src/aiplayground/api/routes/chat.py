"""Chat REST: /api/v1/conversations (streamed answers as server-sent events) and
/api/v1/prompt-templates with versions. Thin: every decision is `ChatService`'s."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

import orjson
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from aiplayground.api.deps import CurrentPrincipal
from aiplayground.catalog.schemas import Page
from aiplayground.chat.provider import CancelToken
from aiplayground.chat.schemas import (
    ConversationCreate,
    ConversationDetail,
    ConversationInfo,
    ConversationUpdate,
    MessageCreate,
    RegenerateRequest,
    TemplateCreate,
    TemplateInfo,
    TemplateUpdate,
    TemplateVersionCreate,
    TemplateVersionInfo,
)
from aiplayground.chat.service import ChatService, Reply

router = APIRouter(prefix="/api/v1", tags=["chat"])

Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0)]
DISCONNECT_POLL_S = 0.5
T = TypeVar("T")
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
STREAM_DOC = {
    "responses": {
        200: {
            "description": "`text/event-stream` with events start, sources, delta, done or "
            "error (each `data:` a JSON object); with `stream: false`, one JSON object "
            '`{"user": message, "assistant": message}`.',
            "content": {"text/event-stream": {}},
        }
    }
}


def chat_service(request: Request) -> ChatService:
    """The platform's chat service."""
    service: ChatService = request.app.state.platform.chat
    return service


def sse(event: str | None, data: Any) -> bytes:
    """One server-sent event."""
    head = f"event: {event}\n".encode() if event else b""
    return head + b"data: " + orjson.dumps(data) + b"\n\n"


class EventStream(StreamingResponse):
    """Server-sent events that run `on_close` however the response ends.

    A client that leaves before the first byte makes Starlette drop the body iterator
    unstarted, so its own `finally` never runs; this one always does.
    """

    def __init__(self, events: AsyncIterator[bytes], on_close: Callable[[], None]) -> None:
        super().__init__(events, media_type="text/event-stream", headers=SSE_HEADERS)
        self.on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.on_close()


async def until_done(request: Request, work: Awaitable[T], cancel: CancelToken) -> T:
    """Await `work`; if the client leaves first, cancel the generation (freeing the model)."""
    task = asyncio.ensure_future(work)
    while True:
        done, _ = await asyncio.wait({task}, timeout=DISCONNECT_POLL_S)
        if done:
            return task.result()
        if await request.is_disconnected():
            cancel.cancel()


async def _reply_response(request: Request, reply: Reply, stream: bool) -> Response:
    if not stream:
        answer = await until_done(request, reply.collect(), reply.generation.cancel)
        body = {
            "user": reply.user.model_dump(mode="json"),
            "assistant": answer.model_dump(mode="json"),
        }
        return Response(orjson.dumps(body), media_type="application/json")

    async def encoded() -> AsyncIterator[bytes]:
        async for event, data in reply.events():
            yield sse(event, data)

    return EventStream(encoded(), reply.abandon)


# conversations ---------------------------------------------------------------------------


@router.get("/conversations", response_model=Page[ConversationInfo])
async def list_conversations(
    request: Request,
    caller: CurrentPrincipal,
    q: str | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[ConversationInfo]:
    """Your conversations, most recently active first."""
    store = chat_service(request).conversations
    return await run_in_threadpool(store.search, caller, q=q, limit=limit, offset=offset)


@router.post("/conversations", status_code=201, response_model=ConversationInfo)
async def create_conversation(
    spec: ConversationCreate, request: Request, caller: CurrentPrincipal
) -> ConversationInfo:
    """Start a conversation with a text-generation model."""
    return await chat_service(request).create_conversation(caller, spec)


@router.get("/conversations/{conversation_id}", response_model=ConversationDetail)
async def get_conversation(
    conversation_id: str, request: Request, caller: CurrentPrincipal
) -> ConversationDetail:
    """A conversation with its messages, token counts and timings."""
    store = chat_service(request).conversations
    return await run_in_threadpool(store.get, caller, conversation_id)


@router.patch("/conversations/{conversation_id}", response_model=ConversationInfo)
async def update_conversation(
    conversation_id: str, patch: ConversationUpdate, request: Request, caller: CurrentPrincipal
) -> ConversationInfo:
    """Rename, or change model, settings, template or memory."""
    return await chat_service(request).update_conversation(caller, conversation_id, patch)


@router.delete("/conversations/{conversation_id}", status_code=204)
async def delete_conversation(
    conversation_id: str, request: Request, caller: CurrentPrincipal
) -> Response:
    """Delete a conversation and its messages."""
    store = chat_service(request).conversations
    await run_in_threadpool(store.delete, caller, conversation_id)
    return Response(status_code=204)


@router.get("/conversations/{conversation_id}/export")
async def export_conversation(
    conversation_id: str,
    request: Request,
    caller: CurrentPrincipal,
    format: Annotated[str, Query(pattern="^(markdown|md|json)$")] = "markdown",
) -> Response:
    """The conversation as a Markdown or JSON download."""
    store = chat_service(request).conversations
    text, media = await run_in_threadpool(store.export, caller, conversation_id, format)
    suffix = "json" if format == "json" else "md"
    name = quote(f"conversation-{conversation_id}.{suffix}")
    return Response(
        text,
        media_type=media,
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{name}"},
    )


@router.post("/conversations/{conversation_id}/messages", openapi_extra=STREAM_DOC)
async def send_message(
    conversation_id: str, body: MessageCreate, request: Request, caller: CurrentPrincipal
) -> Response:
    """Ask; the answer streams as server-sent events and is stored with the conversation."""
    service = chat_service(request)
    reply = await service.send_message(caller, conversation_id, body.content, body.settings)
    return await _reply_response(request, reply, body.stream)


@router.post("/conversations/{conversation_id}/regenerate", openapi_extra=STREAM_DOC)
async def regenerate(
    conversation_id: str, body: RegenerateRequest, request: Request, caller: CurrentPrincipal
) -> Response:
    """Answer the last user message again, replacing the previous answer."""
    reply = await chat_service(request).regenerate(caller, conversation_id, body.settings)
    return await _reply_response(request, reply, body.stream)


@router.post("/conversations/{conversation_id}/cancel")
async def cancel_answer(
    conversation_id: str, request: Request, caller: CurrentPrincipal
) -> dict[str, bool]:
    """Stop the answer being generated (the model is free again within a second)."""
    service = chat_service(request)
    cancelled = await run_in_threadpool(service.cancel, caller, conversation_id)
    return {"cancelled": cancelled}


@router.get("/chat/models/{name}")
async def chat_model_options(name: str, request: Request, caller: CurrentPrincipal) -> Any:
    """A text model's provider, supported generation parameters, defaults and state."""
    return await chat_service(request).model_options(caller, name)


# prompt templates ------------------------------------------------------------------------


@router.get("/prompt-templates", response_model=Page[TemplateInfo])
async def list_templates(
    request: Request,
    caller: CurrentPrincipal,
    q: str | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[TemplateInfo]:
    """Your prompt templates and public ones."""
    store = chat_service(request).templates
    return await run_in_threadpool(store.search, caller, q=q, limit=limit, offset=offset)


@router.post("/prompt-templates", status_code=201, response_model=TemplateInfo)
async def create_template(
    spec: TemplateCreate, request: Request, caller: CurrentPrincipal
) -> TemplateInfo:
    """Save a prompt template (checked now) as version 1."""
    store = chat_service(request).templates
    return await run_in_threadpool(store.create, caller, spec)


@router.get("/prompt-templates/{template_id}", response_model=TemplateInfo)
async def get_template(
    template_id: str, request: Request, caller: CurrentPrincipal
) -> TemplateInfo:
    """A template with its latest content and version numbers."""
    store = chat_service(request).templates
    return await run_in_threadpool(store.get, caller, template_id)


@router.patch("/prompt-templates/{template_id}", response_model=TemplateInfo)
async def update_template(
    template_id: str, patch: TemplateUpdate, request: Request, caller: CurrentPrincipal
) -> TemplateInfo:
    """Change a template's description or visibility."""
    store = chat_service(request).templates
    return await run_in_threadpool(store.update, caller, template_id, patch)


@router.delete("/prompt-templates/{template_id}", status_code=204)
async def delete_template(template_id: str, request: Request, caller: CurrentPrincipal) -> Response:
    """Delete a template and all its versions."""
    store = chat_service(request).templates
    await run_in_threadpool(store.delete, caller, template_id)
    return Response(status_code=204)


@router.post(
    "/prompt-templates/{template_id}/versions",
    status_code=201,
    response_model=TemplateVersionInfo,
)
async def add_template_version(
    template_id: str, body: TemplateVersionCreate, request: Request, caller: CurrentPrincipal
) -> TemplateVersionInfo:
    """Save new content as the template's next version."""
    store = chat_service(request).templates
    return await run_in_threadpool(store.add_version, caller, template_id, body.messages)


@router.get("/prompt-templates/{template_id}/versions/{number}", response_model=TemplateVersionInfo)
async def get_template_version(
    template_id: str, number: int, request: Request, caller: CurrentPrincipal
) -> TemplateVersionInfo:
    """One version of a template."""
    store = chat_service(request).templates
    return await run_in_threadpool(store.get_version, caller, template_id, number)
