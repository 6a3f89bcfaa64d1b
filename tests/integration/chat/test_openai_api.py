"""/openai/v1 with the official `openai` client against the embedded SmolLM2 model."""

from __future__ import annotations

import time

import httpx
import pytest

from aiplayground.chat.provider import ChatMessage
from tests.integration.chat.conftest import MODEL, Live

openai = pytest.importorskip("openai")

QUESTION = [{"role": "user", "content": "Name one planet."}]


def client(live: Live, user: str = "alice") -> openai.OpenAI:
    """The official client, unchanged: base URL and an API token."""
    return openai.OpenAI(base_url=f"{live.url}/openai/v1", api_key=live.tokens[user], max_retries=0)


async def prompt_tokens(live: Live, messages: list[dict[str, str]]) -> int:
    served = await live.chat.pool.get(live.principal("alice"), MODEL)
    return await served.provider.count_tokens([ChatMessage(**m) for m in messages])


def test_models_lists_text_generation_models(live: Live) -> None:
    models = client(live).models.list()
    assert [m.id for m in models.data] == [MODEL]
    assert client(live).models.retrieve(MODEL).id == MODEL


async def test_streamed_chat_completion_has_exact_usage(live: Live) -> None:
    stream = client(live).chat.completions.create(
        model=MODEL,
        messages=QUESTION,  # type: ignore[arg-type]
        max_tokens=8,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finish = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    usage = chunks[-1].usage
    assert text.strip()
    assert usage is not None
    assert usage.prompt_tokens == await prompt_tokens(live, QUESTION)
    assert finish == ["length"]
    assert usage.completion_tokens == 8  # max_tokens reached: every token counted
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_non_streamed_completion_and_seed_reproduce(live: Live) -> None:
    def ask() -> tuple[str, int]:
        answer = client(live).chat.completions.create(
            model=MODEL,
            messages=QUESTION,  # type: ignore[arg-type]
            max_tokens=6,
            seed=7,
            temperature=0.9,
        )
        assert answer.usage is not None
        return answer.choices[0].message.content or "", answer.usage.completion_tokens

    first, second = ask(), ask()
    assert first == second
    assert first[1] <= 6


def test_text_completion_stream(live: Live) -> None:
    stream = client(live).completions.create(
        model=MODEL, prompt="The capital of France is", max_tokens=4, stream=True, temperature=0
    )
    text = "".join(c.choices[0].text for c in stream if c.choices)
    assert text


def test_extension_parameters_and_stop(live: Live) -> None:
    answer = client(live).chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Count: 1, 2, 3, 4, 5, 6"}],
        max_tokens=16,
        stop=[","],
        extra_body={"top_k": 1, "repetition_penalty": 1.1},
    )
    assert "," not in (answer.choices[0].message.content or "")


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"num_beams": 4}, "num_beams"),
        ({"penalty_alpha": 0.6}, "penalty_alpha"),
        ({"logit_bias": {"1": 5}}, "logit_bias"),
        ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),
        ({"n": 2}, "n"),
    ],
)
def test_unsupported_parameter_is_400_naming_it(
    live: Live, extra: dict[str, object], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client(live).chat.completions.create(
            model=MODEL,
            messages=QUESTION,  # type: ignore[arg-type]
            max_tokens=4,
            extra_body=extra,
        )
    assert caught.value.status_code == 400
    assert param in caught.value.message
    assert caught.value.body["param"] == param  # type: ignore[index]


def test_prompt_longer_than_the_context_is_400(live: Live) -> None:
    words = " ".join(["particle"] * 5000)  # about 5000 tokens, context 4096
    with pytest.raises(openai.BadRequestError) as caught:
        client(live).chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": words}], max_tokens=4
        )
    assert "context window" in caught.value.message
    with httpx.Client(timeout=30) as http:  # the server is fine afterwards
        assert http.get(f"{live.url}/healthz").status_code == 200


def test_errors_in_openai_shape(live: Live) -> None:
    with live.http() as http:
        unknown = http.post(
            "/openai/v1/chat/completions", json={"model": "nope", "messages": QUESTION}
        )
        assert unknown.status_code == 404
        assert set(unknown.json()["error"]) == {"message", "type", "param", "code"}
        anonymous = httpx.post(f"{live.url}/openai/v1/models")
        assert anonymous.status_code in (401, 405)
        assert httpx.get(f"{live.url}/openai/v1/models").status_code == 401
        bad = http.post(
            "/openai/v1/chat/completions",
            json={"model": MODEL, "messages": QUESTION, "temperature": 9},
        )
        assert bad.status_code == 400
        assert bad.json()["error"]["param"] == "temperature"


def test_huge_prompts_are_refused_before_tokenizing(live: Live) -> None:
    huge = "x" * 500_000  # past chat.max_prompt_chars (400 000)
    with live.http() as http:
        started = time.monotonic()
        answer = http.post(
            "/openai/v1/chat/completions",
            json={"model": MODEL, "messages": [{"role": "user", "content": huge}]},
        )
        assert answer.status_code == 400
        assert answer.json()["error"]["param"] == "messages"
        conversation = http.post("/api/v1/conversations", json={"model": MODEL}).json()
        message = http.post(
            f"/api/v1/conversations/{conversation['id']}/messages", json={"content": huge}
        )
        assert message.status_code == 400
        assert time.monotonic() - started < 5
        assert http.get(f"/api/v1/conversations/{conversation['id']}").json()["messages"] == []
