"""Import a conversation from the JSON that Export writes (from this or another server).

The file is checked against a strict shape (roles, sizes, message count); the new
conversation is created through `ChatService.create_conversation`, which checks the model
and settings, and its messages are appended through the conversation store, which checks
ownership. Imported text is stored as it is and, like every answer, rendered as
sanitized Markdown: a hostile file is inert.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aiplayground.auth.principal import Principal
from aiplayground.chat.params import parse_params
from aiplayground.chat.schemas import MAX_MESSAGE_CHARS, ConversationCreate, ConversationInfo
from aiplayground.chat.service import ChatService
from aiplayground.errors import InvalidInput

MAX_IMPORT_BYTES = 5_000_000
MAX_IMPORT_MESSAGES = 2_000


class ImportedMessage(BaseModel):
    """One message of an exported conversation."""

    model_config = ConfigDict(extra="ignore")

    role: Literal["user", "assistant", "system"]
    content: str = Field(max_length=MAX_MESSAGE_CHARS)
    tokens: int | None = Field(None, ge=0)
    model: str | None = Field(None, max_length=128)
    params: dict[str, Any] = Field(default_factory=dict)
    finish_reason: str | None = Field(None, max_length=32)
    timings: dict[str, Any] = Field(default_factory=dict)
    sources: list[dict[str, Any]] = Field(default_factory=list, max_length=50)


class ImportedConversation(BaseModel):
    """An exported conversation (the JSON of Export; other fields are ignored)."""

    model_config = ConfigDict(extra="ignore")

    title: str = ""
    model: str = ""
    settings: dict[str, Any] = Field(default_factory=dict)
    system_prompt: str | None = Field(None, max_length=20_000)
    memory_messages: int | None = Field(None, ge=0, le=200)
    messages: list[ImportedMessage] = Field(max_length=MAX_IMPORT_MESSAGES)


async def import_conversation(
    caller: Principal, service: ChatService, raw: bytes, *, models: set[str], fallback: str
) -> ConversationInfo:
    """Store an exported conversation as a new one of the caller's; returns it."""
    caller.require_write()
    if len(raw) > MAX_IMPORT_BYTES:
        raise InvalidInput(f"the file is larger than {MAX_IMPORT_BYTES // 1_000_000} MB")
    try:
        data = ImportedConversation.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "file"
        raise InvalidInput(
            f"this is not an exported conversation ({where}: {first['msg']})"
        ) from exc
    model = data.model if data.model in models else fallback
    if not model:
        raise InvalidInput("pick a model first: the conversation's own model is not available")
    settings = data.settings
    try:
        parse_params(settings, "the imported settings")
    except InvalidInput:
        settings = {}  # made for another provider; the model's defaults apply
    spec = ConversationCreate(
        model=model,
        title=" ".join(data.title.split())[:200] or "Imported conversation",
        settings=settings,
        system_prompt=data.system_prompt,
        memory_messages=data.memory_messages,
    )
    try:
        info = await service.create_conversation(caller, spec)
    except InvalidInput:
        # Settings this model's provider does not support: keep the messages, not those.
        info = await service.create_conversation(caller, spec.model_copy(update={"settings": {}}))
    try:
        await asyncio.to_thread(_append, service, caller, info.id, data.messages)
    except BaseException:
        # All or nothing: no half-imported conversation is left behind.
        await asyncio.to_thread(service.conversations.delete, caller, info.id)
        raise
    return info.model_copy(update={"message_count": len(data.messages)})


def _append(
    service: ChatService, caller: Principal, conversation_id: str, messages: list[ImportedMessage]
) -> None:
    for message in messages:
        service.conversations.add_message(
            caller,
            conversation_id,
            message.role,
            message.content,
            tokens=message.tokens,
            model=message.model,
            params=message.params,
            finish_reason=message.finish_reason,
            timings=message.timings,
            sources=message.sources,
        )
