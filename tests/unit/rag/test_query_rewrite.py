"""The query-rewriting prompt and how a model's output is cleaned into a search query."""

from __future__ import annotations

import pytest

from aiplayground.chat.provider import ChatMessage
from aiplayground.chat.query_rewrite import (
    EXAMPLES,
    HISTORY_CHARS,
    HISTORY_MESSAGES,
    clean_rewrite,
    rewrite_params,
    rewrite_prompt,
)

QUESTION = "and what about its mass?"


def test_the_prompt_ends_with_this_conversation_after_the_worked_examples() -> None:
    history = [
        ChatMessage("system", "You are terse."),
        ChatMessage("user", "What is the top quark?"),
        ChatMessage("assistant", "The heaviest quark.\n\nIt was found in 1995."),
    ]
    prompt = rewrite_prompt(QUESTION, history)
    assert prompt[0].role == "system"
    assert [m.role for m in prompt[1:]] == ["user", "assistant"] * len(EXAMPLES) + ["user"]
    last = prompt[-1].content
    assert last.splitlines() == [
        "Conversation:",
        "User: What is the top quark?",
        "Assistant: The heaviest quark. It was found in 1995.",
        f"Follow-up: {QUESTION}",
    ]
    assert "You are terse" not in last  # only the user's and the model's turns


def test_the_prompt_keeps_only_recent_short_history() -> None:
    history = [ChatMessage("user", f"question {i} " + "x" * 2000) for i in range(10)]
    last = rewrite_prompt(QUESTION, history)[-1].content
    turns = [line for line in last.splitlines() if line.startswith("User:")]
    assert len(turns) == HISTORY_MESSAGES
    assert turns[0].startswith("User: question 6 ")
    assert all(len(t) <= len("User: ") + HISTORY_CHARS + 1 for t in turns)


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("What is the top quark's mass?", "What is the top quark's mass?"),
        (
            '  Standalone question: "Where is the Zorblax detector located?"\n',
            "Where is the Zorblax detector located?",
        ),
        (
            'You can rephrase it as: "Where is the Zorblax detector located?"',
            "Where is the Zorblax detector located?",
        ),
        (
            "Sure. How often are dosimeters read out? They are read monthly.",
            "How often are dosimeters read out?",
        ),
        ('What does "CMS" stand for?', 'What does "CMS" stand for?'),
        ("How heavy is the top quark", "How heavy is the top quark"),
        ("\n\nWhen did the LHC start?\nIt started in 2008.", "When did the LHC start?"),
    ],
)
def test_the_question_is_kept_and_what_surrounds_it_dropped(output: str, expected: str) -> None:
    assert clean_rewrite(output, QUESTION) == expected


@pytest.mark.parametrize(
    "output",
    [
        "",
        "   \n  ",
        "Dosimeters measure radiation dose.",
        "The top quark is the heaviest known particle!",
        "x" * 400,
    ],
)
def test_answers_and_empty_output_are_not_used(output: str) -> None:
    assert clean_rewrite(output, QUESTION) is None


def test_decoding_is_short_and_greedy_in_the_providers_terms() -> None:
    both = rewrite_params(frozenset({"max_new_tokens", "temperature", "do_sample"}))
    assert both.temperature == 0.0
    assert both.do_sample is None
    assert rewrite_params(frozenset({"max_new_tokens", "do_sample"})).do_sample is False
    bare = rewrite_params(frozenset({"max_new_tokens"}))
    assert bare.given() == {"max_new_tokens"}
    assert bare.max_new_tokens is not None
    assert bare.max_new_tokens <= 64
