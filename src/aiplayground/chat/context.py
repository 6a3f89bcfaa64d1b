"""The seam where retrieval plugs into chat: a `Retriever` fills the `{context}` slot and
the answer keeps its sources for citations. Knowledge bases provide one; without it, a
conversation that asks for retrieval is refused."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from aiplayground.auth.principal import Principal
from aiplayground.chat.provider import ChatMessage


@dataclass
class Source:
    """A retrieved passage: what was put in the prompt, and where it came from."""

    text: str
    document: str = ""
    chunk: str = ""
    score: float = 0.0
    metadata: dict[str, Any] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        """As stored with the answer and sent to clients."""
        return asdict(self)


# (question, conversation history) -> standalone question, by the conversation's model
QuestionRewriter = Callable[[str, list[ChatMessage]], Awaitable[str]]


class Retriever(Protocol):
    """Finds passages for a question, reading only what the caller may read."""

    async def retrieve(
        self,
        caller: Principal,
        settings: dict[str, Any],
        question: str,
        history: list[ChatMessage],
        *,
        rewriter: QuestionRewriter | None = None,
    ) -> list[Source]:
        """Passages for the question; `settings` is the conversation's `context` object.

        `rewriter` turns a follow-up into a standalone question when retrieval wants one.
        """
        ...
