"""/api/v1/conversations and /api/v1/prompt-templates over the embedded model."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.chat.conftest import MODEL, Live, add_gguf_model

SMALL = "smollm2-small-context"  # the same GGUF with a 320-token window


@pytest.fixture(scope="module")
def small_model(live: Live) -> str:
    """A text model with a context window small enough to overflow in a test."""
    add_gguf_model(live.platform, SMALL, {"context_window": 320})
    return SMALL


def events(response: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    """The server-sent events of a response, decoded."""
    found: list[tuple[str, dict[str, Any]]] = []
    name = ""
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            found.append((name, json.loads(line[6:])))
    return found


@pytest.fixture
def conversation(live: Live) -> Iterator[str]:
    """A conversation of alice's with short greedy answers."""
    with live.http() as http:
        created = http.post(
            "/api/v1/conversations",
            json={"model": MODEL, "settings": {"max_new_tokens": 8, "temperature": 0}},
        )
        assert created.status_code == 201, created.text
        yield created.json()["id"]


def ask(live: Live, conversation: str, content: str, **extra: Any) -> list[tuple[str, dict]]:
    with (
        live.http() as http,
        http.stream(
            "POST",
            f"/api/v1/conversations/{conversation}/messages",
            json={"content": content, **extra},
        ) as response,
    ):
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        return events(response)


def test_streamed_answer_is_stored_with_tokens_and_timings(live: Live, conversation: str) -> None:
    got = ask(live, conversation, "What is a muon?")
    names = [n for n, _ in got]
    assert names[0] == "start"
    assert names[-1] == "done"
    assert "delta" in names
    start, done = got[0][1], got[-1][1]["message"]
    assert start["message"]["role"] == "user"
    assert start["prompt_tokens"] > 0
    assert done["content"] == "".join(d["text"] for n, d in got if n == "delta")
    assert done["tokens"] <= 8
    assert done["finish_reason"] in ("stop", "length")
    assert done["timings"]["ttft_s"] > 0
    assert done["model"] == MODEL
    with live.http() as http:
        detail = http.get(f"/api/v1/conversations/{conversation}").json()
    assert detail["title"] == "What is a muon?"
    assert [m["role"] for m in detail["messages"]] == ["user", "assistant"]
    assert detail["messages"][0]["tokens"] > 0
    assert detail["messages"][1]["params"]["max_new_tokens"] == 8


def test_json_answer_regenerate_rename_export_delete(live: Live, conversation: str) -> None:
    with live.http() as http:
        url = f"/api/v1/conversations/{conversation}"
        answer = http.post(f"{url}/messages", json={"content": "Hello!", "stream": False})
        assert answer.status_code == 200
        assert answer.json()["assistant"]["role"] == "assistant"
        again = http.post(f"{url}/regenerate", json={"stream": False, "settings": {"seed": 3}})
        assert again.status_code == 200
        messages = http.get(url).json()["messages"]
        assert [m["role"] for m in messages] == ["user", "assistant"]
        assert messages[1]["params"]["seed"] == 3
        assert http.patch(url, json={"title": "Greetings"}).json()["title"] == "Greetings"
        listed = http.get("/api/v1/conversations", params={"q": "greet"}).json()
        assert [c["id"] for c in listed["items"]] == [conversation]
        assert listed["items"][0]["message_count"] == 2
        markdown = http.get(f"{url}/export")
        assert markdown.headers["content-type"].startswith("text/markdown")
        assert "attachment" in markdown.headers["content-disposition"]
        assert markdown.text.startswith("# Greetings")
        assert "## User" in markdown.text
        exported = http.get(f"{url}/export", params={"format": "json"}).json()
        assert exported["messages"][0]["content"] == "Hello!"
        assert http.delete(url).status_code == 204
        assert http.get(url).status_code == 404


def test_a_refused_regeneration_keeps_the_exchange(live: Live, conversation: str) -> None:
    with live.http() as http:
        url = f"/api/v1/conversations/{conversation}"
        assert http.post(f"{url}/messages", json={"content": "Hi", "stream": False}).is_success
        before = http.get(url).json()["messages"]
        refused = http.post(
            f"{url}/regenerate", json={"stream": False, "settings": {"num_beams": 2}}
        )
        assert refused.status_code == 400
        assert http.get(url).json()["messages"] == before
        again = http.post(f"{url}/regenerate", json={"stream": False})
        assert again.status_code == 200
        after = http.get(url).json()["messages"]
        assert [m["role"] for m in after] == ["user", "assistant"]
        assert after[0]["content"] == "Hi"


def test_another_users_conversation_is_404(live: Live, conversation: str) -> None:
    url = f"/api/v1/conversations/{conversation}"
    with live.http("bob") as bob:
        assert bob.get(url).status_code == 404
        assert bob.patch(url, json={"title": "mine"}).status_code == 404
        assert bob.post(f"{url}/messages", json={"content": "hi"}).status_code == 404
        assert bob.post(f"{url}/regenerate", json={}).status_code == 404
        assert bob.post(f"{url}/cancel").status_code == 404
        assert bob.get(f"{url}/export").status_code == 404
        assert bob.delete(url).status_code == 404
        assert conversation not in {
            c["id"] for c in bob.get("/api/v1/conversations").json()["items"]
        }
    with live.http() as alice:
        assert alice.get(url).status_code == 200


def test_settings_the_model_cannot_honour_are_400(live: Live, conversation: str) -> None:
    with live.http() as http:
        bad = http.post(
            "/api/v1/conversations", json={"model": MODEL, "settings": {"num_beams": 2}}
        )
        assert bad.status_code == 400
        assert "num_beams" in bad.json()["error"]["message"]
        url = f"/api/v1/conversations/{conversation}"
        patched = http.patch(url, json={"settings": {"penalty_alpha": 0.5}})
        assert patched.status_code == 400
        assert "penalty_alpha" in patched.text
        unknown = http.post(f"{url}/messages", json={"content": "x", "settings": {"beams": 2}})
        assert unknown.status_code == 400
        assert "beams" in unknown.text
        missing = http.post("/api/v1/conversations", json={"model": "no-such-model"})
        assert missing.status_code == 404


def test_memory_is_trimmed_to_the_context_window(live: Live, small_model: str) -> None:
    long_message = "Tell me about particle detectors and jets and muons. " * 10  # ~120 tokens
    with live.http() as http:
        created = http.post(
            "/api/v1/conversations",
            json={"model": small_model, "settings": {"max_new_tokens": 4, "temperature": 0}},
        ).json()
        dropped = []
        for _ in range(3):
            got = ask(live, created["id"], long_message)
            assert got[-1][0] == "done"
            dropped.append(got[0][1]["dropped_messages"])
        assert dropped[0] == 0
        assert dropped[-1] > 0
        too_long = http.post(
            f"/api/v1/conversations/{created['id']}/messages",
            json={"content": long_message * 4},
        )
        assert too_long.status_code == 400
        assert "shorten it" in too_long.json()["error"]["message"]


def test_memory_messages_setting(live: Live) -> None:
    with live.http() as http:
        created = http.post(
            "/api/v1/conversations",
            json={"model": MODEL, "memory_messages": 0, "settings": {"max_new_tokens": 2}},
        ).json()
        first = ask(live, created["id"], "One.")
        second = ask(live, created["id"], "One.")
        assert first[0][1]["prompt_tokens"] == second[0][1]["prompt_tokens"]


def test_prompt_templates_are_versioned_and_checked(live: Live) -> None:
    seed_format = [
        ["system", "You answer about physics. Context: {context}"],
        ["human", "{question}"],
    ]
    with live.http() as http:
        created = http.post(
            "/api/v1/prompt-templates", json={"name": "physics", "messages": seed_format}
        )
        assert created.status_code == 201, created.text
        template = created.json()
        assert template["messages"][1] == {"role": "user", "content": "{question}"}
        assert template["latest_version"] == 1
        url = f"/api/v1/prompt-templates/{template['id']}"
        second = http.post(
            f"{url}/versions",
            json={
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "Q: {question}"},
                ]
            },
        )
        assert second.status_code == 201
        assert second.json()["number"] == 2
        assert http.get(url).json()["versions"] == [1, 2]
        assert http.get(f"{url}/versions/1").json()["messages"][0]["role"] == "system"
        for bad in (
            [["user", "{question} {secret.__class__}"]],
            [["user", "no slot"]],
            [["robot", "{question}"]],
            [["user", "{question"]],
        ):
            refused = http.post(f"{url}/versions", json={"messages": bad})
            assert refused.status_code == 422, bad
        duplicate = http.post(
            "/api/v1/prompt-templates", json={"name": "physics", "messages": seed_format}
        )
        assert duplicate.status_code == 409
        conversation = http.post(
            "/api/v1/conversations",
            json={
                "model": MODEL,
                "template_id": template["id"],
                "template_version": 2,
                "settings": {"max_new_tokens": 2},
            },
        ).json()
        assert ask(live, conversation["id"], "What is mass?")[-1][0] == "done"
    with live.http("bob") as bob:
        assert bob.get(url).status_code == 404
        assert template["id"] not in {
            t["id"] for t in bob.get("/api/v1/prompt-templates").json()["items"]
        }
        using = bob.post(
            "/api/v1/conversations", json={"model": MODEL, "template_id": template["id"]}
        )
        assert using.status_code == 404
    with live.http() as http:
        assert http.patch(url, json={"visibility": "public"}).status_code == 200
    with live.http("bob") as bob:
        assert bob.get(url).status_code == 200
        assert bob.post(f"{url}/versions", json={"messages": seed_format}).status_code == 403


def test_chat_model_options(live: Live) -> None:
    with live.http() as http:
        options = http.get(f"/api/v1/chat/models/{MODEL}").json()
    assert options["provider"] == "embedded"
    assert "temperature" in options["supported_params"]
    assert "num_beams" not in options["supported_params"]
