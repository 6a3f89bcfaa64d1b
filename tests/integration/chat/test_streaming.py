"""Streams under pressure: cancel frees the model, concurrent streams, 429 with Retry-After."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from aiplayground.chat.limits import ChatLimits
from aiplayground.settings import ChatSettings
from tests.integration.chat.conftest import MODEL, Live

QUESTION = [{"role": "user", "content": "Count from 1 to 1000, separated by commas."}]
LONG = {"max_tokens": 2000, "temperature": 0}  # greedy: counting goes on for long


def worker_queued(live: Live) -> int:
    """Requests the SmolLM2 worker still has (running one included)."""
    states = [p for k, p in live.chat.pool._providers.items() if k.startswith(f"{MODEL}:")]
    return sum(p.state().queued for p in states)


def wait_idle(live: Live, timeout: float) -> float:
    """Seconds until the model's worker has nothing to do (fails after `timeout`)."""
    start = time.monotonic()
    while worker_queued(live):
        if time.monotonic() - start > timeout:
            pytest.fail(f"the model was still busy {timeout} s after the cancel")
        time.sleep(0.01)
    return time.monotonic() - start


def ask_short(live: Live) -> float:
    """Seconds a one-token completion takes."""
    start = time.monotonic()
    with live.http() as http:
        answer = http.post(
            "/openai/v1/chat/completions",
            json={"model": MODEL, "messages": QUESTION, "max_tokens": 1},
        )
    answer.raise_for_status()
    return time.monotonic() - start


def test_closing_the_stream_frees_the_model_within_a_second(live: Live) -> None:
    idle_latency = min(ask_short(live), ask_short(live))
    body = {"model": MODEL, "messages": QUESTION, "stream": True, **LONG}
    with live.http() as http, http.stream("POST", "/openai/v1/chat/completions", json=body) as r:
        assert r.status_code == 200
        seen = 0
        for line in r.iter_lines():
            if line.startswith("data: "):
                seen += 1
            if seen == 3:
                break
        assert worker_queued(live) == 1
    # The client is gone mid-answer: the worker must stop and take the next request
    # about as fast as when it was idle (it would otherwise finish 2000 tokens first).
    assert wait_idle(live, 1.0) < 1.0
    assert ask_short(live) - idle_latency < 1.0


def test_cancel_endpoint_stops_a_conversation_answer(live: Live) -> None:
    with live.http() as http:
        conversation = http.post("/api/v1/conversations", json={"model": MODEL}).json()
        url = f"/api/v1/conversations/{conversation['id']}"
        events: list[tuple[str, dict[str, Any]]] = []
        body = {
            "content": QUESTION[0]["content"],
            "settings": {"max_new_tokens": 2000, "temperature": 0},
        }
        started = threading.Event()

        def listen() -> None:
            with live.http() as c, c.stream("POST", f"{url}/messages", json=body) as r:
                name = ""
                for line in r.iter_lines():
                    if line.startswith("event: "):
                        name = line[7:]
                    elif line.startswith("data: "):
                        events.append((name, json.loads(line[6:])))
                        if name == "delta":
                            started.set()

        thread = threading.Thread(target=listen)
        thread.start()
        assert started.wait(30)
        assert http.post(f"{url}/cancel").json() == {"cancelled": True}
        stopped = time.monotonic()
        thread.join(10)
        assert time.monotonic() - stopped < 1.5
        assert events[-1][0] == "done"
        assert events[-1][1]["message"]["finish_reason"] == "cancelled"
        assert wait_idle(live, 1.0) < 1.0
        stored = http.get(url).json()["messages"]
        assert [m["role"] for m in stored] == ["user", "assistant"]
        assert stored[1]["content"] == "".join(d["text"] for n, d in events if n == "delta")
        assert http.post(f"{url}/cancel").json() == {"cancelled": False}


def test_eight_concurrent_streams_all_complete(live: Live) -> None:
    openai = pytest.importorskip("openai")

    def one(i: int) -> tuple[str, int]:
        client = openai.OpenAI(base_url=f"{live.url}/openai/v1", api_key=live.tokens["alice"])
        stream = client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": f"Say a word about the number {i}."}],
            max_tokens=6,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
        finish = next(
            c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
        )
        usage = chunks[-1].usage
        assert usage is not None
        return finish, usage.completion_tokens

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(8)))
    assert len(results) == 8
    assert all(finish in ("stop", "length") and 0 < tokens <= 6 for finish, tokens in results)
    assert wait_idle(live, 1.0) < 1.0


@pytest.fixture
def strict_limits(live: Live) -> Any:
    """One stream per user and a bucket of two requests, for this test only."""
    before = live.chat.limits
    live.chat.limits = ChatLimits(
        ChatSettings(max_streams_per_user=1, burst=2, requests_per_minute=1)
    )
    yield live.chat.limits
    live.chat.limits = before


@pytest.mark.usefixtures("strict_limits")
def test_parallel_streams_and_request_rate_are_bounded_with_429(live: Live) -> None:
    body = {"model": MODEL, "messages": QUESTION, "stream": True, **LONG}
    short = {**body, "stream": False, "max_tokens": 1}
    with live.http() as http:
        with http.stream("POST", "/openai/v1/chat/completions", json=body) as first:
            assert first.status_code == 200
            second = http.post("/openai/v1/chat/completions", json=short)
            assert second.status_code == 429
            assert int(second.headers["retry-after"]) >= 1
            assert second.json()["error"]["code"] == "rate_limited"
        # The stream slot is free again once the first stream is gone...
        assert http.post("/openai/v1/chat/completions", json=short).status_code == 200
        # ...but the bucket (two requests a minute) is empty now.
        third = http.post("/openai/v1/chat/completions", json=short)
        assert third.status_code == 429
        assert int(third.headers["retry-after"]) >= 20
    # Another user has a bucket of their own.
    with live.http("bob") as http:
        assert http.post("/openai/v1/chat/completions", json=short).status_code == 200
