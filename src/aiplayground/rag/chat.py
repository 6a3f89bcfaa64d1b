"""Knowledge bases as chat's `Retriever`: the conversation's `context` names the bases.

`context` is `{"knowledge_bases": ["name", ...], "top_k": 4}`. A follow-up question is
rewritten into a standalone one first when a base asks for it (`retrieval.query_rewrite`)
and chat gave a rewriter (ChatService passes one per turn, backed by the conversation's own
model); the caller only ever reads bases it can see.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiplayground.auth.principal import Principal
from aiplayground.chat.context import QuestionRewriter, Source
from aiplayground.chat.provider import ChatMessage
from aiplayground.errors import InvalidInput
from aiplayground.rag.service import KnowledgeBaseService

MAX_BASES = 10
MAX_TOP_K = 20

ChatRewriter = QuestionRewriter  # (question, history) -> standalone question


class KnowledgeRetriever:
    """Finds passages for a chat question in the conversation's knowledge bases."""

    def __init__(self, service: KnowledgeBaseService, rewriter: ChatRewriter | None = None) -> None:
        self.service = service
        self.rewriter = rewriter

    async def retrieve(
        self,
        caller: Principal,
        settings: dict[str, Any],
        question: str,
        history: list[ChatMessage],
        *,
        rewriter: ChatRewriter | None = None,
    ) -> list[Source]:
        """Passages for the question, each with its citation in `metadata` (which holds
        the query searched, `rewritten` when a base asked for a standalone question)."""
        names, top_k = _context(settings)
        rewriter = rewriter or self.rewriter
        rewritten: str | None = None
        if rewriter is not None and history:
            wanted = await asyncio.to_thread(self._wants_rewrite, caller, names)
            if wanted:
                rewritten = (await rewriter(question, history)).strip() or None
        passages = await asyncio.to_thread(
            self.service.retrieve_for_chat,
            caller,
            names,
            question,
            top_k,
            rewrite=(lambda _: rewritten) if rewritten else None,
        )
        return [
            Source(
                text=p.text,
                document=p.file_name,
                chunk=p.chunk,
                score=p.score,
                metadata=p.citation(),
            )
            for p in passages
        ]

    def _wants_rewrite(self, caller: Principal, names: list[str]) -> bool:
        return any(self.service.get(caller, n).config.retrieval.query_rewrite for n in names)


def _context(settings: dict[str, Any]) -> tuple[list[str], int]:
    names = settings.get("knowledge_bases") or []
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise InvalidInput(
            "context.knowledge_bases must be a list of knowledge-base names",
            details={"param": "context"},
        )
    if len(names) > MAX_BASES:
        raise InvalidInput(
            f"at most {MAX_BASES} knowledge bases per conversation", details={"param": "context"}
        )
    top_k = settings.get("top_k", 4)
    if not isinstance(top_k, int) or isinstance(top_k, bool) or not 1 <= top_k <= MAX_TOP_K:
        raise InvalidInput(
            f"context.top_k must be an integer from 1 to {MAX_TOP_K}", details={"param": "context"}
        )
    return names, top_k
