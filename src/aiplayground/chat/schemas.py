"""The chat capability's vocabulary: what callers send and get back (plain data)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from aiplayground.catalog.schemas import Name, Visibility

# Generous: the service refuses prompts past chat.max_prompt_chars with a 400 itself.
MAX_MESSAGE_CHARS = 2_000_000


class ConversationCreate(BaseModel):
    """A new conversation with a text-generation model."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=128, description="Catalog model name.")
    model_version: str | None = Field(None, max_length=64, description="Number or alias.")
    title: str = Field("", max_length=200)
    settings: dict[str, Any] = Field(
        default_factory=dict, description="Generation parameters overriding the model's."
    )
    system_prompt: str | None = Field(None, max_length=20_000)
    template_id: str | None = Field(None, max_length=32)
    template_version: int | None = Field(None, ge=1, description="Empty: the latest.")
    memory_messages: int | None = Field(None, ge=0, le=200, description="Empty: the default.")
    context: dict[str, Any] = Field(
        default_factory=dict, description="Retrieval settings (knowledge bases, top_k)."
    )


class ConversationUpdate(BaseModel):
    """A change to a conversation; absent fields are kept, null clears."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(None, min_length=1, max_length=128)
    model_version: str | None = Field(None, max_length=64)
    title: str | None = Field(None, max_length=200)
    settings: dict[str, Any] | None = None
    system_prompt: str | None = Field(None, max_length=20_000)
    template_id: str | None = Field(None, max_length=32)
    template_version: int | None = Field(None, ge=1)
    memory_messages: int | None = Field(None, ge=0, le=200)
    context: dict[str, Any] | None = None


class MessageInfo(BaseModel):
    """One stored message."""

    id: str
    seq: int
    role: str
    content: str
    tokens: int | None
    model: str | None
    params: dict[str, Any]
    finish_reason: str | None
    timings: dict[str, Any]
    sources: list[dict[str, Any]]
    created_at: datetime


class ConversationInfo(BaseModel):
    """A conversation as shown in lists."""

    id: str
    title: str
    model: str
    model_version: str | None
    settings: dict[str, Any]
    system_prompt: str | None
    template_id: str | None
    template_version: int | None
    memory_messages: int | None
    context: dict[str, Any]
    message_count: int
    created_at: datetime
    updated_at: datetime


class ConversationDetail(ConversationInfo):
    """A conversation with its messages."""

    messages: list[MessageInfo]


class MessageCreate(BaseModel):
    """A user message to answer."""

    model_config = ConfigDict(extra="forbid")

    content: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)
    settings: dict[str, Any] = Field(
        default_factory=dict, description="Generation parameters for this answer only."
    )
    stream: bool = Field(True, description="Server-sent events (true) or one JSON answer.")


class RegenerateRequest(BaseModel):
    """Answer the last user message again (the last answer is replaced)."""

    model_config = ConfigDict(extra="forbid")

    settings: dict[str, Any] = Field(default_factory=dict)
    stream: bool = True


class TemplateCreate(BaseModel):
    """A new prompt template (its first version)."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    description: str = Field("", max_length=10_000)
    visibility: Visibility = Visibility.PRIVATE
    messages: Any = Field(
        description='[["system", "..."], ["user", "{question}"]] or [{"role", "content"}]'
    )


class TemplateUpdate(BaseModel):
    """A change to a template's description or visibility (content changes are versions)."""

    model_config = ConfigDict(extra="forbid")

    description: str | None = Field(None, max_length=10_000)
    visibility: Visibility | None = None


class TemplateVersionCreate(BaseModel):
    """New content for a template: its next version."""

    model_config = ConfigDict(extra="forbid")

    messages: Any


class TemplateVersionInfo(BaseModel):
    """One version of a template."""

    template_id: str
    number: int
    messages: list[dict[str, str]]
    created_at: datetime


class TemplateInfo(BaseModel):
    """A template with its latest content."""

    id: str
    name: str
    owner: str
    description: str
    visibility: Visibility
    latest_version: int
    versions: list[int]
    messages: list[dict[str, str]]
    created_at: datetime
    updated_at: datetime
