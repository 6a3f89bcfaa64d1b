"""Conversations in the database: private to their owner (another user's id gives 404)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from aiplayground.auth.principal import Principal
from aiplayground.catalog.schemas import Page
from aiplayground.chat.provider import ChatMessage
from aiplayground.chat.schemas import (
    ConversationCreate,
    ConversationDetail,
    ConversationInfo,
    ConversationUpdate,
    MessageInfo,
)
from aiplayground.errors import InvalidInput, NotFound
from aiplayground.store.chat_tables import Conversation, ConversationMessage
from aiplayground.store.db import Database
from aiplayground.store.tables import utcnow

TITLE_CHARS = 60


@dataclass(frozen=True)
class ConversationState:
    """What answering the next message needs to know of a conversation."""

    id: str
    model: str
    model_version: str | None
    settings: dict[str, Any]
    system_prompt: str | None
    template_id: str | None
    template_version: int | None
    memory_messages: int | None
    context: dict[str, Any]
    history: list[ChatMessage]


class ConversationStore:
    """Conversations and their messages, with the owner check on every call."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, caller: Principal, spec: ConversationCreate) -> ConversationInfo:
        """Store a new, empty conversation (the service checked model and settings)."""
        caller.require_write()
        with self.db.session() as s:
            row = Conversation(owner_id=caller.user_id, **spec.model_dump())
            s.add(row)
            s.flush()
            return _info(row, 0)

    def search(
        self, caller: Principal, *, q: str | None = None, limit: int = 50, offset: int = 0
    ) -> Page[ConversationInfo]:
        """The caller's conversations, most recently active first."""
        where = [Conversation.owner_id == caller.user_id]
        if q:
            where.append(Conversation.title.icontains(q))
        counts = (
            select(ConversationMessage.conversation_id, func.count().label("n"))
            .group_by(ConversationMessage.conversation_id)
            .subquery()
        )
        with self.db.session() as s:
            total = s.scalar(select(func.count()).select_from(Conversation).where(*where)) or 0
            rows = s.execute(
                select(Conversation, func.coalesce(counts.c.n, 0))
                .outerjoin(counts, counts.c.conversation_id == Conversation.id)
                .where(*where)
                .order_by(Conversation.updated_at.desc(), Conversation.id)
                .limit(limit)
                .offset(offset)
            ).all()
            return Page(items=[_info(row, int(n)) for row, n in rows], total=total)

    def get(self, caller: Principal, conversation_id: str) -> ConversationDetail:
        """One conversation with all its messages."""
        with self.db.session() as s:
            row = self._load(s, caller, conversation_id)
            messages = [_message_info(m) for m in self._messages(s, row.id)]
            return ConversationDetail(**_info(row, len(messages)).model_dump(), messages=messages)

    def update(
        self, caller: Principal, conversation_id: str, patch: ConversationUpdate
    ) -> ConversationInfo:
        """Rename, or change model, settings, template, memory (the service checked them)."""
        caller.require_write()
        with self.db.session() as s:
            row = self._load(s, caller, conversation_id)
            for key, value in patch.model_dump(exclude_unset=True).items():
                if key == "model" and value is None:
                    raise InvalidInput("a conversation needs a model", details={"param": "model"})
                setattr(row, key, {} if value is None and key in ("settings", "context") else value)
            s.flush()
            return _info(row, len(self._messages(s, row.id)))

    def delete(self, caller: Principal, conversation_id: str) -> None:
        """Delete a conversation and its messages."""
        caller.require_write()
        with self.db.session() as s:
            s.delete(self._load(s, caller, conversation_id))

    def state(self, caller: Principal, conversation_id: str) -> ConversationState:
        """Settings and full history, for answering."""
        with self.db.session() as s:
            row = self._load(s, caller, conversation_id)
            history = [ChatMessage(m.role, m.content) for m in self._messages(s, row.id)]
            return ConversationState(
                id=row.id,
                model=row.model,
                model_version=row.model_version,
                settings=dict(row.settings),
                system_prompt=row.system_prompt,
                template_id=row.template_id,
                template_version=row.template_version,
                memory_messages=row.memory_messages,
                context=dict(row.context),
                history=history,
            )

    def add_message(
        self, caller: Principal, conversation_id: str, role: str, content: str, **fields: Any
    ) -> MessageInfo:
        """Append a message; the first user message also titles an untitled conversation."""
        with self.db.session() as s:
            row = self._load(s, caller, conversation_id)
            last = s.scalar(
                select(func.max(ConversationMessage.seq)).where(
                    ConversationMessage.conversation_id == row.id
                )
            )
            now = utcnow()
            message = ConversationMessage(
                conversation_id=row.id,
                seq=(last or 0) + 1,
                role=role,
                content=content,
                created_at=now,
                **fields,
            )
            s.add(message)
            if not row.title and role == "user":
                line = " ".join(content.split())
                row.title = line[:TITLE_CHARS] + ("…" if len(line) > TITLE_CHARS else "")
            row.updated_at = now  # lists show the most recently active first
            s.flush()
            return _message_info(message)

    def drop_last_answer(self, caller: Principal, conversation_id: str) -> ChatMessage:
        """Remove the answer(s) after the last user message, and return that message."""
        with self.db.session() as s:
            row = self._load(s, caller, conversation_id)
            messages = self._messages(s, row.id)
            users = [m for m in messages if m.role == "user"]
            if not users:
                raise InvalidInput("there is no user message to answer again")
            last = users[-1]
            s.execute(
                delete(ConversationMessage).where(
                    ConversationMessage.conversation_id == row.id,
                    ConversationMessage.seq >= last.seq,
                )
            )
            return ChatMessage("user", last.content)

    def export(self, caller: Principal, conversation_id: str, fmt: str) -> tuple[str, str]:
        """The conversation as Markdown or JSON: (text, media type)."""
        detail = self.get(caller, conversation_id)
        if fmt == "json":
            return json.dumps(detail.model_dump(mode="json"), indent=2), "application/json"
        if fmt in ("md", "markdown"):
            return to_markdown(detail), "text/markdown"
        raise InvalidInput(f"unknown export format {fmt!r}; use markdown or json")

    def _load(self, s: Session, caller: Principal, conversation_id: str) -> Conversation:
        row = s.get(Conversation, conversation_id)
        if row is None or row.owner_id != caller.user_id:
            raise NotFound(f"no conversation {conversation_id!r}")
        return row

    def _messages(self, s: Session, conversation_id: str) -> list[ConversationMessage]:
        return list(
            s.scalars(
                select(ConversationMessage)
                .where(ConversationMessage.conversation_id == conversation_id)
                .order_by(ConversationMessage.seq)
            )
        )


def to_markdown(detail: ConversationDetail) -> str:
    """A readable transcript: title, model and settings, then each message."""
    lines = [f"# {detail.title or 'Conversation'}", "", f"- model: `{detail.model}`"]
    if detail.settings:
        lines.append(f"- settings: `{json.dumps(detail.settings, sort_keys=True)}`")
    if detail.system_prompt:
        lines.append(f"- system prompt: {detail.system_prompt}")
    lines.append("")
    for message in detail.messages:
        heading = {"user": "User", "assistant": "Assistant", "system": "System"}[message.role]
        meta = []
        if message.tokens is not None:
            meta.append(f"{message.tokens} tokens")
        if message.timings.get("tokens_per_s"):
            meta.append(f"{message.timings['tokens_per_s']:.1f} tokens/s")
        suffix = f" ({', '.join(meta)})" if meta else ""
        lines += [f"## {heading}{suffix}", "", message.content, ""]
        for i, source in enumerate(message.sources, 1):
            lines.append(f"[{i}] {source.get('document', '')} {source.get('chunk', '')}".rstrip())
    return "\n".join(lines).rstrip() + "\n"


def _info(row: Conversation, count: int) -> ConversationInfo:
    return ConversationInfo(
        id=row.id,
        title=row.title,
        model=row.model,
        model_version=row.model_version,
        settings=dict(row.settings),
        system_prompt=row.system_prompt,
        template_id=row.template_id,
        template_version=row.template_version,
        memory_messages=row.memory_messages,
        context=dict(row.context),
        message_count=count,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _message_info(m: ConversationMessage) -> MessageInfo:
    return MessageInfo(
        id=m.id,
        seq=m.seq,
        role=m.role,
        content=m.content,
        tokens=m.tokens,
        model=m.model,
        params=dict(m.params),
        finish_reason=m.finish_reason,
        timings=dict(m.timings),
        sources=list(m.sources),
        created_at=m.created_at,
    )
