"""Providers called directly: the embedded worker, transformers (tiny model), KServe v2."""

from __future__ import annotations

import asyncio
import importlib.util
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

from aiplayground.chat.params import GenerationParams
from aiplayground.chat.provider import CancelToken, ChatMessage, Chunk, LLMProvider
from aiplayground.chat.providers.embedded import open_embedded
from aiplayground.chat.providers.kserve_v2 import KServeV2Provider
from aiplayground.errors import InvalidInput, MissingDependency, PlaygroundError
from aiplayground.net import UrlPolicy
from aiplayground.packaged import smollm2_path
from aiplayground.settings import ChatSettings
from tests.integration.chat.conftest import LiveServer

QUESTION = [ChatMessage("user", "Count from 1 to 20, separated by commas.")]


async def run(provider: LLMProvider, prompt: Any = QUESTION, **params: Any) -> tuple[str, Chunk]:
    """The whole answer and the final chunk."""
    text, last = "", Chunk()
    async for chunk in provider.stream(prompt, GenerationParams(**params), CancelToken()):
        text += chunk.text
        last = chunk
    return text, last


@pytest.fixture(scope="module")
def embedded() -> Iterator[LLMProvider]:
    path = smollm2_path()
    assert path is not None
    provider = open_embedded("smollm2", path, ChatSettings(threads=1), {"context_window": 1024})
    yield provider
    asyncio.run(provider.close())


async def test_embedded_counts_stops_and_reproduces(embedded: LLMProvider) -> None:
    assert await embedded.context_window() == 1024
    text, last = await run(embedded, max_new_tokens=24, temperature=0, stop=["4"])
    assert "3" in text
    assert "4" not in text
    assert last.finish_reason == "stop"
    assert last.prompt_tokens == await embedded.count_tokens(QUESTION)
    first = await run(embedded, max_new_tokens=6, seed=11, temperature=1.0)
    second = await run(embedded, max_new_tokens=6, seed=11, temperature=1.0)
    assert first[0] == second[0]
    raw, done = await run(embedded, "The sky is", max_new_tokens=3, temperature=0)
    assert done.completion_tokens == 3
    assert raw


async def test_embedded_cancel_and_worker_restart(embedded: LLMProvider) -> None:
    cancel = CancelToken()
    seen = 0
    async for chunk in embedded.stream(QUESTION, GenerationParams(max_new_tokens=500), cancel):
        seen += 1
        if seen == 3:
            cancel.cancel()
            cancelled_at = time.monotonic()
        if chunk.finish_reason:
            assert chunk.finish_reason == "cancelled"
    assert time.monotonic() - cancelled_at < 1.0
    # A worker that dies is started again by the next request.
    worker: Any = embedded.worker
    worker._proc.kill()
    deadline = time.monotonic() + 5
    while embedded.state().state == "loaded" and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert embedded.state().state == "unloaded"
    text, _ = await run(embedded, max_new_tokens=2)
    assert text


async def test_embedded_refuses_prompts_beyond_the_window(embedded: LLMProvider) -> None:
    long = [ChatMessage("user", "word " * 2000)]
    with pytest.raises(PlaygroundError) as caught:
        await run(embedded, long, max_new_tokens=2)
    assert caught.value.code == InvalidInput.code
    assert caught.value.details["param"] == "messages"


# transformers ------------------------------------------------------------------------------

needs_torch = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("torch", "transformers", "peft")),
    reason="torch, transformers and peft are not installed (extra llm-torch)",
)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.integration.chat.tiny_hf import make_tiny_model

    root = tmp_path_factory.mktemp("tiny")
    make_tiny_model(root / "model", adapter=root / "adapter")
    return root


@needs_torch
@pytest.mark.slow  # two worker processes importing torch
async def test_transformers_decoding_modes_and_lora(tiny: Path) -> None:
    from aiplayground.chat.providers.transformers import open_transformers

    settings = ChatSettings(threads=1)
    provider = open_transformers("tiny", tiny / "model", settings, {}, trusted=False)
    adapter = open_transformers(
        "tiny-lora", tiny / "adapter", settings, {}, trusted=False, base=tiny / "model"
    )
    prompt = [ChatMessage("user", "hello cat")]
    try:
        assert await provider.context_window() == 256
        greedy, last = await run(provider, prompt, max_new_tokens=6, do_sample=False)
        assert last.completion_tokens == 6
        assert greedy
        assert last.prompt_tokens == await provider.count_tokens(prompt)
        beams, last = await run(provider, prompt, max_new_tokens=6, num_beams=3)
        assert beams
        assert last.finish_reason in ("stop", "length")
        groups, _ = await run(
            provider,
            prompt,
            max_new_tokens=6,
            num_beams=4,
            num_beam_groups=2,
            diversity_penalty=1.0,
        )
        assert groups
        contrastive, last = await run(
            provider, prompt, max_new_tokens=6, penalty_alpha=0.6, top_k=4
        )
        assert contrastive
        assert last.completion_tokens == 6
        sampled = [
            (await run(provider, prompt, max_new_tokens=6, do_sample=True, seed=5))[0]
            for _ in range(2)
        ]
        assert sampled[0] == sampled[1]
        with pytest.raises(PlaygroundError, match="top_k"):
            await run(provider, prompt, max_new_tokens=2, penalty_alpha=0.6, top_k=1)
        with pytest.raises(PlaygroundError, match="multiple"):
            await run(provider, prompt, max_new_tokens=2, num_beams=3, num_beam_groups=2)
        adapted, _ = await run(adapter, prompt, max_new_tokens=6, do_sample=False)
        assert adapted != greedy  # the LoRA weights change the answer
    finally:
        await provider.close()
        await adapter.close()


def test_transformers_missing_dependency_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aiplayground.chat.providers import transformers as module

    (tmp_path / "config.json").write_text("{}")
    real = importlib.util.find_spec
    monkeypatch.setattr(
        module.importlib.util, "find_spec", lambda name: None if name == "torch" else real(name)
    )
    with pytest.raises(MissingDependency, match=r"ai-playground\[llm-torch\]"):
        module.open_transformers("m", tmp_path, ChatSettings(), {}, trusted=False)


# KServe v2 generate ------------------------------------------------------------------------


def fake_generate_server() -> FastAPI:
    """A KServe v2 generate_stream endpoint that echoes the request, word by word."""
    app = FastAPI()

    @app.post("/v2/models/{name}/generate_stream")
    async def generate_stream(name: str, request: Request) -> StreamingResponse:
        body = await request.json()

        async def events() -> AsyncIterator[bytes]:
            words = [name, str(body["parameters"].get("max_tokens")), body["text_input"][-10:]]
            for word in words:
                yield b"data: " + orjson.dumps({"text_output": word + " "}) + b"\n\n"
            yield b"data: " + orjson.dumps({"text_output": "", "finish_reason": "length"}) + b"\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return app


async def test_kserve_v2_generate_stream() -> None:
    with LiveServer(fake_generate_server()) as server:
        provider = KServeV2Provider(
            name="kv2",
            url=server.url,
            remote_name="llm",
            policy=UrlPolicy(["127.0.0.1"]),
            api_key=None,
            timeout_s=10,
            serving={},
        )
        text, last = await run(provider, [ChatMessage("user", "Hi")], max_new_tokens=5)
        assert text == "llm 5 Assistant: "
        assert last.finish_reason == "length"
        assert last.completion_tokens == 3
        blocked = KServeV2Provider(
            name="kv2",
            url=server.url,
            remote_name="llm",
            policy=UrlPolicy(),
            api_key=None,
            timeout_s=10,
            serving={},
        )
        with pytest.raises(PlaygroundError, match="internal addresses"):
            await run(blocked, "Hi")


async def test_a_model_that_cannot_load_fails_fast_afterwards(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 64)
    provider = open_embedded("broken", broken, ChatSettings(threads=1), {})
    with pytest.raises(PlaygroundError) as first:
        await provider.context_window()
    assert provider.state().state == "failed"
    started = time.monotonic()
    with pytest.raises(PlaygroundError) as again:
        await run(provider, max_new_tokens=1)
    assert time.monotonic() - started < 0.5  # no new worker per request
    assert again.value.message == first.value.message
    assert first.value.code == "unavailable"
    await provider.close()
