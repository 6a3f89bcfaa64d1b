"""Prompt templates: both accepted shapes, validation, and rendering with memory."""

from __future__ import annotations

import pytest

from aiplayground.chat.provider import ChatMessage
from aiplayground.chat.templates import format_context, normalize_template, render
from aiplayground.errors import ValidationFailed

HISTORY = [ChatMessage("user", "Hi"), ChatMessage("assistant", "Hello!")]


def test_seed_pairs_and_role_objects_are_accepted() -> None:
    pairs = normalize_template([["system", "Be {{nice}}"], ["human", "{question}"]])
    objects = normalize_template(
        [{"role": "system", "content": "Be {{nice}}"}, {"role": "user", "content": "{question}"}]
    )
    assert (
        pairs
        == objects
        == [
            {"role": "system", "content": "Be {{nice}}"},
            {"role": "user", "content": "{question}"},
        ]
    )


@pytest.mark.parametrize(
    "raw",
    [
        [],
        "not a list",
        [["user", "{question}"]] * 17,
        [["user", "{question} {password}"]],
        [["user", "{question.__class__}"]],
        [["user", "{question!r}"]],
        [["user", "{question:>10}"]],
        [["user", "{}"]],
        [["user", "{question"]],
        [["user", "no slot at all"]],
        [["wizard", "{question}"]],
        [["user", "{question}"], ["assistant", "ok"]],
        [["user", 3]],
        [{"role": "user"}],
    ],
)
def test_invalid_templates_are_refused_on_save(raw: object) -> None:
    with pytest.raises(ValidationFailed):
        normalize_template(raw)


def test_history_goes_between_system_and_question() -> None:
    template = normalize_template([["system", "You help."], ["user", "Q: {question}"]])
    rendered = render(template, "Why {braces}?", HISTORY)
    assert rendered == [
        ChatMessage("system", "You help."),
        *HISTORY,
        ChatMessage("user", "Q: Why {braces}?"),  # user text is never formatted
    ]


def test_history_and_context_slots() -> None:
    template = normalize_template(
        [["system", "Context:\n{context}\nEarlier:\n{history}"], ["user", "{question}"]]
    )
    rendered = render(template, "And now?", HISTORY, context=format_context(["A", "B"]))
    assert rendered[0].content == "Context:\n[1] A\n\n[2] B\nEarlier:\nUser: Hi\nAssistant: Hello!"
    assert len(rendered) == 2


def test_no_template_uses_the_system_prompt_and_adds_context() -> None:
    rendered = render(None, "Q?", HISTORY, system_prompt="Use {curly} braces", context="[1] X")
    assert rendered[0] == ChatMessage("system", "Use {curly} braces")
    assert rendered[1].role == "system"
    assert "[1] X" in rendered[1].content
    assert rendered[2:] == [*HISTORY, ChatMessage("user", "Q?")]
