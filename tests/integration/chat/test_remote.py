"""A second, separately started platform as an OpenAI-compatible server of the first."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from aiplayground.chat.provider import ChatMessage
from tests.integration.chat.conftest import MODEL, Live, live_platform

openai = pytest.importorskip("openai")

REMOTE = "remote-smollm2"
QUESTION = [{"role": "user", "content": "Say hello."}]


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """The other server: its own data folder, users, tokens and model worker."""
    with live_platform(tmp_path_factory.mktemp("upstream")) as running:
        yield running


@pytest.fixture(scope="module")
def remote(live: Live, upstream: Live) -> str:
    """The upstream's SmolLM2 registered in `live` as an openai endpoint (alice's)."""
    with live.http() as http:
        created = http.post(
            "/api/v1/models/endpoints",
            json={
                "name": REMOTE,
                "url": f"{upstream.url}/openai/v1",
                "protocol": "openai",
                "remote_name": MODEL,
                "api_key": upstream.tokens["bob"],
                "objective": "text-generation",
            },
        )
    assert created.status_code == 201, created.text
    return REMOTE


def client(live: Live, user: str = "alice") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{live.url}/openai/v1", api_key=live.tokens[user], max_retries=0)


async def test_streams_from_the_second_server_with_its_usage(
    live: Live, upstream: Live, remote: str
) -> None:
    assert remote in [m.id for m in client(live).models.list().data]
    chunks = list(
        client(live).chat.completions.create(
            model=remote,
            messages=QUESTION,  # type: ignore[arg-type]
            max_tokens=8,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    usage = chunks[-1].usage
    assert text.strip()
    assert usage is not None
    served = await upstream.chat.pool.get(upstream.principal("bob"), MODEL)
    expected = await served.provider.count_tokens([ChatMessage(**m) for m in QUESTION])
    assert usage.prompt_tokens == expected  # the upstream's exact count, passed on
    assert usage.completion_tokens == 8


def test_remote_conversation_and_unsupported_parameter(live: Live, remote: str) -> None:
    with live.http() as http:
        conversation = http.post(
            "/api/v1/conversations", json={"model": remote, "settings": {"max_new_tokens": 4}}
        ).json()
        answer = http.post(
            f"/api/v1/conversations/{conversation['id']}/messages",
            json={"content": "Hi!", "stream": False},
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["assistant"]["tokens"] == 4
    with pytest.raises(openai.BadRequestError) as caught:
        client(live).chat.completions.create(
            model=remote,
            messages=QUESTION,  # type: ignore[arg-type]
            max_tokens=4,
            extra_body={"top_k": 5},  # the openai provider does not forward it unless told
        )
    assert caught.value.body["param"] == "top_k"  # type: ignore[index]


def test_other_users_cannot_use_a_private_endpoint(live: Live, remote: str) -> None:
    with pytest.raises(openai.NotFoundError):
        client(live, "bob").chat.completions.create(
            model=remote,
            messages=QUESTION,  # type: ignore[arg-type]
            max_tokens=2,
        )
    assert remote not in [m.id for m in client(live, "bob").models.list().data]
