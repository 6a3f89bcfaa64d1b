"""Memory: last N messages, trimmed oldest first to the token budget."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from aiplayground.chat.memory import fit_prompt, last_messages, reserve_for_answer
from aiplayground.chat.params import GenerationParams
from aiplayground.chat.provider import CancelToken, ChatMessage, Chunk, Prompt, ProviderState
from aiplayground.errors import InvalidInput


class WordCounter:
    """A provider whose tokens are words (enough to test trimming)."""

    kind = "test"
    supported_params = frozenset({"max_new_tokens"})

    async def context_window(self) -> int:
        return 100

    async def count_tokens(self, prompt: Prompt) -> int:
        if isinstance(prompt, str):
            return len(prompt.split())
        return sum(len(m.content.split()) + 1 for m in prompt)

    async def stream(
        self, prompt: Prompt, params: GenerationParams, cancel: CancelToken
    ) -> AsyncIterator[Chunk]:
        yield Chunk(finish_reason="stop")

    def state(self) -> ProviderState:
        return ProviderState("loaded")

    async def close(self) -> None:
        pass


def turns(n: int, words: int = 9) -> list[ChatMessage]:
    roles = ("user", "assistant")
    return [ChatMessage(roles[i % 2], " ".join([f"w{i}"] * words)) for i in range(n)]


def test_last_messages_start_with_a_user_turn() -> None:
    history = turns(6)
    assert last_messages(history, 3) == history[4:]  # not a lone assistant message
    assert last_messages(history, 0) == []
    assert last_messages(history, 10) == history


async def test_oldest_messages_are_dropped_to_fit() -> None:
    def build(past: list[ChatMessage]) -> list[ChatMessage]:
        return [ChatMessage("system", "be brief"), *past, ChatMessage("user", "question")]

    fitted = await fit_prompt(WordCounter(), build, turns(6), budget=35)
    assert fitted.dropped == 4
    assert fitted.prompt_tokens <= 35
    assert fitted.messages[1:3] == turns(6)[4:]
    everything = await fit_prompt(WordCounter(), build, turns(6), budget=1000)
    assert everything.dropped == 0


async def test_a_question_that_cannot_fit_is_400() -> None:
    def build(past: list[ChatMessage]) -> list[ChatMessage]:
        return [*past, ChatMessage("user", "word " * 50)]

    with pytest.raises(InvalidInput) as caught:
        await fit_prompt(WordCounter(), build, turns(2), budget=20)
    assert "shorten it" in caught.value.message


def test_the_answer_keeps_room() -> None:
    assert reserve_for_answer(4096, 512) == 512
    assert reserve_for_answer(1024, 4000) == 512
