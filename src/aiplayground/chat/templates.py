"""Prompt templates: role/content messages with `{context}`, `{question}`, `{history}` slots.

Stored as a JSON list. Both `[["system", "..."], ["user", "{question}"]]` (the seed's
pairs, LangChain's "human"/"ai" roles included) and `[{"role": ..., "content": ...}]`
are accepted and kept in the second form.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from typing import Any

from aiplayground.chat.provider import ChatMessage
from aiplayground.errors import ValidationFailed

SLOTS = ("context", "question", "history")
ROLE_ALIASES = {
    "system": "system",
    "user": "user",
    "human": "user",
    "assistant": "assistant",
    "ai": "assistant",
}
MAX_TEMPLATE_MESSAGES = 16
MAX_TEMPLATE_CHARS = 20_000
CONTEXT_INTRO = "Answer using this context; cite passages by their [number].\n\n{context}"


def _fail(message: str) -> ValidationFailed:
    return ValidationFailed(message, details={"field": "messages"})


def slots_of(text: str) -> set[str]:
    """The slots a content string uses; ValidationFailed for anything but known names."""
    found: set[str] = set()
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise _fail(
            f"bad braces in template text: {exc}; write {{{{ and }}}} for literal ones"
        ) from exc
    for _, field, spec, conversion in parsed:
        if field is None:
            continue
        if field not in SLOTS or spec or conversion:
            raise _fail(
                f"unknown slot {{{field}}} in template (no format specs or conversions); use "
                "{context}, {question} or {history}, and write {{ and }} for literal braces"
            )
        found.add(field)
    return found


def normalize_template(raw: Any) -> list[dict[str, str]]:
    """Validate a template in either accepted shape; return `[{"role", "content"}]`."""
    if not isinstance(raw, list) or not raw:
        raise _fail("a template is a non-empty JSON list of role/content messages")
    if len(raw) > MAX_TEMPLATE_MESSAGES:
        raise _fail(f"a template has at most {MAX_TEMPLATE_MESSAGES} messages")
    messages: list[dict[str, str]] = []
    used: set[str] = set()
    for index, item in enumerate(raw):
        if isinstance(item, dict) and set(item) == {"role", "content"}:
            role, content = item["role"], item["content"]
        elif isinstance(item, list | tuple) and len(item) == 2:
            role, content = item
        else:
            raise _fail(f"message {index} is not a [role, content] pair or a {{role, content}}")
        if not isinstance(role, str) or role.lower() not in ROLE_ALIASES:
            raise _fail(f"message {index} has role {role!r}; use system, user or assistant")
        if not isinstance(content, str) or len(content) > MAX_TEMPLATE_CHARS:
            raise _fail(f"message {index}: content is text of at most {MAX_TEMPLATE_CHARS} chars")
        slots = slots_of(content)
        used |= slots
        messages.append({"role": ROLE_ALIASES[role.lower()], "content": content})
    if "question" not in used:
        raise _fail("a template needs the {question} slot, where the user's message goes")
    if messages[-1]["role"] != "user":
        raise _fail("a template ends with the user message")
    return messages


def _fill(text: str, values: dict[str, str]) -> str:
    # Slots were checked on save (plain names only), so format_map cannot reach attributes;
    # the values are inserted as they are, never formatted themselves.
    return text.format_map(values)


def _literal(text: str) -> str:
    # A plain system prompt has no slots: its braces are text.
    return text.replace("{", "{{").replace("}", "}}")


def history_text(history: Sequence[ChatMessage]) -> str:
    """Past messages as "User: ..." lines, for a template's `{history}` slot."""
    return "\n".join(f"{m.role.capitalize()}: {m.content}" for m in history)


def render(
    template: list[dict[str, str]] | None,
    question: str,
    history: Sequence[ChatMessage],
    *,
    system_prompt: str | None = None,
    context: str = "",
) -> list[ChatMessage]:
    """The chat prompt for one question.

    Without a `{history}` slot, past messages go in as chat messages between the
    template's system message(s) and the rest; retrieved context without a `{context}`
    slot goes into a system message of its own.
    """
    if template is None:
        template = [{"role": "user", "content": "{question}"}]
        if system_prompt:
            template.insert(0, {"role": "system", "content": _literal(system_prompt)})
    slots = set().union(*(slots_of(m["content"]) for m in template))
    values = {"question": question, "history": history_text(history), "context": context}
    rendered = [ChatMessage(m["role"], _fill(m["content"], values)) for m in template]
    head = 0
    while head < len(rendered) and rendered[head].role == "system":
        head += 1
    extra: list[ChatMessage] = []
    if context and "context" not in slots:
        extra.append(ChatMessage("system", CONTEXT_INTRO.format(context=context)))
    past = [] if "history" in slots else list(history)
    return [*rendered[:head], *extra, *past, *rendered[head:]]


def format_context(passages: Sequence[str]) -> str:
    """Retrieved passages, numbered for citations."""
    return "\n\n".join(f"[{i}] {text}" for i, text in enumerate(passages, 1))
