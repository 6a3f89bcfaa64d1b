"""Query rewriting for retrieval: a follow-up question ("and what about its mass?") becomes
a standalone one ("What is the top quark's mass?") before it is searched for.

The conversation's own model is asked with a short fixed prompt: an instruction and two
worked examples as earlier turns (even a 135M instruct model follows that pattern, where an
instruction alone gets an answer instead of a question). Greedy decoding, a few dozen
tokens, a time bound; on any failure or an unusable output the original question is
searched for, and the reason is logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time

from aiplayground.chat.params import GenerationParams
from aiplayground.chat.provider import CancelToken, ChatMessage, LLMProvider
from aiplayground.errors import PlaygroundError

log = logging.getLogger(__name__)

MAX_NEW_TOKENS = 48
TIMEOUT_S = 30.0
HISTORY_MESSAGES = 4
HISTORY_CHARS = 600
MAX_QUESTION_CHARS = 1_000

INSTRUCTION = (
    "You rewrite a follow-up question into a standalone question that names its subject. "
    "Reply with the rewritten question only."
)
EXAMPLES = (
    (
        (
            ("user", "What is a photomultiplier tube?"),
            ("assistant", "A detector that turns faint light into an electric signal."),
        ),
        "how fast is it?",
        "How fast is a photomultiplier tube?",
    ),
    (
        (
            ("user", "Tell me about the LHC."),
            ("assistant", "The LHC is the largest particle collider, at CERN."),
        ),
        "and when did it start?",
        "When did the LHC start?",
    ),
)
# What models put before the question despite being told not to.
_LEAD = re.compile(
    r"^\s*(?:(?:the\s+)?(?:standalone|rewritten|rephrased)(?:\s+question)?|question|"
    r"follow-up|query)\s*:\s*",
    re.IGNORECASE,
)
_PREAMBLE = re.compile(r"(?<=[.!:])\s+[\"“«]?")
_QUOTES = "\"'`“”\u2018\u2019«»"


def rewrite_prompt(question: str, history: list[ChatMessage]) -> list[ChatMessage]:
    """The fixed prompt: instruction, worked examples, then this conversation's follow-up."""
    messages = [ChatMessage("system", INSTRUCTION)]
    for turns, follow_up, standalone in EXAMPLES:
        messages.append(ChatMessage("user", _task([ChatMessage(*t) for t in turns], follow_up)))
        messages.append(ChatMessage("assistant", standalone))
    recent = [m for m in history if m.role in ("user", "assistant")][-HISTORY_MESSAGES:]
    messages.append(ChatMessage("user", _task(recent, question[:MAX_QUESTION_CHARS])))
    return messages


def _task(history: list[ChatMessage], follow_up: str) -> str:
    lines = ["Conversation:"]
    for message in history:
        speaker = "User" if message.role == "user" else "Assistant"
        text = " ".join(message.content.split())
        if len(text) > HISTORY_CHARS:
            text = text[:HISTORY_CHARS] + "…"
        lines.append(f"{speaker}: {text}")
    lines.append(f"Follow-up: {' '.join(follow_up.split())}")
    return "\n".join(lines)


def clean_rewrite(text: str, question: str) -> str | None:
    """The standalone question in a model's output; None when there is none to use.

    Takes the first non-empty line, drops a "Standalone question:" lead and quotes, and
    keeps the first sentence that ends in "?" when the model went on talking. A sentence
    that ends in "." or "!", or an output much longer than a question, is an answer, not
    a rewrite.
    """
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    line = _LEAD.sub("", line).strip().strip(_QUOTES).strip()
    end = line.find("?")
    if end >= 0:
        # The question itself, without what came after it or a preamble before it.
        line = _PREAMBLE.split(line[: end + 1])[-1].strip().strip(_QUOTES).strip()
    elif line.endswith((".", "!")):
        return None  # a statement: the model answered instead of rewriting
    if not line or len(line) > max(3 * len(question), 300):
        return None
    return line


def rewrite_params(supported: frozenset[str]) -> GenerationParams:
    """Short and greedy, in whatever terms the provider accepts."""
    values: dict[str, object] = {"max_new_tokens": MAX_NEW_TOKENS}
    if "temperature" in supported:
        values["temperature"] = 0.0
    elif "do_sample" in supported:
        values["do_sample"] = False
    return GenerationParams.model_validate(values)


async def standalone_question(
    provider: LLMProvider,
    question: str,
    history: list[ChatMessage],
    *,
    timeout_s: float = TIMEOUT_S,
) -> str:
    """The follow-up rewritten by the model; the question itself if that fails."""
    if not history:
        return question
    cancel = CancelToken()
    started = time.perf_counter()
    try:
        text = await asyncio.wait_for(
            _generate(provider, rewrite_prompt(question, history), cancel), timeout_s
        )
    except TimeoutError:
        log.warning("query rewriting took over %g s; searching the question as asked", timeout_s)
        return question
    except PlaygroundError as exc:
        log.warning("query rewriting failed (%s); searching the question as asked", exc.message)
        return question
    finally:
        cancel.cancel()
    rewritten = clean_rewrite(text, question)
    if rewritten is None:
        log.info("query rewriting gave no usable question (%r); searching as asked", text[:200])
        return question
    log.info("follow-up rewritten in %.2f s", time.perf_counter() - started)
    return rewritten


async def _generate(provider: LLMProvider, prompt: list[ChatMessage], cancel: CancelToken) -> str:
    parts: list[str] = []
    stream = provider.stream(prompt, rewrite_params(provider.supported_params), cancel)
    try:
        async for chunk in stream:
            parts.append(chunk.text)
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(PlaygroundError):
                await aclose()
    return "".join(parts)
