"""OpenAI request bodies: what is accepted, renamed, or refused naming the parameter."""

from __future__ import annotations

import pytest

from aiplayground.chat.openai_codec import Responder, decode_body, parse_request
from aiplayground.chat.provider import ChatMessage, Usage
from aiplayground.errors import InvalidInput

BASE = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def test_chat_request_maps_to_the_chat_vocabulary() -> None:
    parsed = parse_request(
        {
            **BASE,
            "model": "m:2",
            "max_tokens": 9,
            "stop": "x",
            "stream": True,
            "stream_options": {"include_usage": True},
            "top_k": 3,
            "n": 1,
            "user": "someone",
            "logit_bias": None,
        },
        "chat",
    )
    assert (parsed.model, parsed.version, parsed.stream, parsed.include_usage) == (
        "m",
        "2",
        True,
        True,
    )
    assert parsed.params.model_dump(exclude_none=True) == {
        "max_new_tokens": 9,
        "stop": ["x"],
        "top_k": 3,
    }
    assert parsed.prompt == [ChatMessage("user", "hi")]


def test_content_parts_and_developer_role() -> None:
    parsed = parse_request(
        {
            "model": "m",
            "messages": [
                {"role": "developer", "content": "rules"},
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
                },
            ],
        },
        "chat",
    )
    assert parsed.prompt == [ChatMessage("system", "rules"), ChatMessage("user", "ab")]


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"n": 3}, "n"),
        ({"logprobs": True}, "logprobs"),
        ({"tools": []}, "tools"),
        ({"response_format": {"type": "json_object"}}, "response_format"),
        ({"temperature": "hot"}, "temperature"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, "messages"),
        ({"model": ""}, "model"),
        ({"stream_options": {"x": 1}}, "stream_options"),
    ],
)
def test_refusals_name_the_parameter(extra: dict[str, object], param: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_request({**BASE, **extra}, "chat")
    assert caught.value.details["param"] == param


def test_completions_default_to_sixteen_tokens_and_refuse_batches() -> None:
    parsed = parse_request({"model": "m", "prompt": ["once"]}, "text")
    assert parsed.prompt == "once"
    assert parsed.params.max_new_tokens == 16
    with pytest.raises(InvalidInput):
        parse_request({"model": "m", "prompt": ["a", "b"]}, "text")
    with pytest.raises(InvalidInput):
        parse_request({"model": "m", "prompt": "a", "suffix": "b"}, "text")


def test_bodies_must_be_json_objects() -> None:
    with pytest.raises(InvalidInput):
        decode_body(b"[1]")
    with pytest.raises(InvalidInput):
        decode_body(b"{oops")


def test_responses_in_openai_shape() -> None:
    responder = Responder(parse_request(BASE, "chat"), "m")
    first = responder.chunk("He", first=True)
    assert first["object"] == "chat.completion.chunk"
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": "He"}
    done = responder.chunk(None, "cancelled")
    assert done["choices"][0]["finish_reason"] == "stop"
    usage = Usage(prompt_tokens=3, completion_tokens=2, finish_reason="length")
    whole = responder.complete("Hello", usage)
    assert whole["usage"] == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    assert whole["choices"][0]["finish_reason"] == "length"
    assert responder.usage_chunk(usage)["choices"] == []
