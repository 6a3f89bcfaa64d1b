"""Conversation memory: the last N messages, trimmed oldest-first to fit the context window.

The new question (with the system prompt and template) is never trimmed: when it alone
does not fit, the request fails with 400 and says by how much.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aiplayground.chat.provider import ChatMessage, LLMProvider
from aiplayground.errors import InvalidInput


@dataclass
class FittedPrompt:
    """The prompt that will be sent, and what trimming did."""

    messages: list[ChatMessage]
    prompt_tokens: int
    dropped: int


def last_messages(history: Sequence[ChatMessage], n: int) -> list[ChatMessage]:
    """The last n messages, starting with a user message (chat templates want turns in order)."""
    kept = list(history[-n:]) if n > 0 else []
    while kept and kept[0].role != "user":
        kept.pop(0)
    return kept


def reserve_for_answer(context_window: int, max_new_tokens: int) -> int:
    """Tokens kept free for the answer: max_new_tokens, but at most half the window."""
    return min(max_new_tokens, context_window // 2)


async def fit_prompt(
    provider: LLMProvider,
    build: Callable[[list[ChatMessage]], list[ChatMessage]],
    history: Sequence[ChatMessage],
    budget: int,
) -> FittedPrompt:
    """Drop the oldest history messages until `build(history)` takes at most `budget` tokens."""
    kept = list(history)
    dropped = 0
    while True:
        messages = build(kept)
        size = await provider.count_tokens(messages)
        if size <= budget:
            return FittedPrompt(messages, size, dropped)
        if not kept:
            raise InvalidInput(
                f"the message takes {size} tokens with the system prompt and template, more "
                f"than the {budget} this model has room for; shorten it",
                details={"param": "content", "prompt_tokens": size, "budget": budget},
            )
        before = len(kept)
        kept = last_messages(kept[1:], len(kept) - 1)
        dropped += before - len(kept)
