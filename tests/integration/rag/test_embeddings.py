"""/openai/v1/embeddings with the official `openai` client, and a base that embeds remotely.

The platform serves itself here: a knowledge base whose embedding model is an
OpenAI-compatible URL points at the same live server's /openai/v1.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import uvicorn

from aiplayground.app import Platform, build_platform, create_app
from aiplayground.auth.principal import Role
from aiplayground.rag.embedding import EmbeddingModels
from aiplayground.settings import Settings
from tests.integration.rag.conftest import attach_knowledge

openai = pytest.importorskip("openai")


@dataclass
class Live:
    """A platform served by uvicorn on a loopback port."""

    url: str
    platform: Platform
    tokens: dict[str, str]

    def http(self, user: str = "alice") -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[user]}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)


@pytest.fixture(scope="module")
def live(
    tmp_path_factory: pytest.TempPathFactory, embedding_models: EmbeddingModels
) -> Iterator[Live]:
    """One live platform per module, with loopback allowed for outbound calls."""
    settings = Settings(
        home=tmp_path_factory.mktemp("rag-live"),
        demo=False,
        server={"ui": False},  # type: ignore[arg-type]
        network={"allowed_hosts": ["127.0.0.1"]},  # type: ignore[arg-type]
    )
    platform = build_platform(settings)
    app = create_app(settings, platform)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_config=None, access_log=False, loop="asyncio")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])))
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "server died"
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    service = attach_knowledge(platform, embedding_models)
    tokens = {}
    for name in ("alice", "bob"):
        user = platform.auth.ensure_user(name, Role.MEMBER)
        tokens[name] = platform.auth.create_token(user.id, "test").token
    yield Live(f"http://127.0.0.1:{sock.getsockname()[1]}", platform, tokens)
    service.close()
    server.should_exit = True
    thread.join(timeout=30)
    sock.close()


def client(live: Live, user: str = "alice") -> Any:
    return openai.OpenAI(base_url=f"{live.url}/openai/v1", api_key=live.tokens[user], max_retries=0)


def test_the_openai_client_gets_embeddings(live: Live, embedding_models: EmbeddingModels) -> None:
    texts = ["The proton mass is 938 MeV.", "A neutron is slightly heavier."]
    answer = client(live).embeddings.create(model="all-minilm-l6-v2", input=texts)
    assert [d.index for d in answer.data] == [0, 1]
    vectors = np.array([d.embedding for d in answer.data], dtype=np.float32)
    assert vectors.shape == (2, 384)
    expected = embedding_models.get("all-minilm-l6-v2").embed_documents(texts)
    assert np.allclose(vectors, expected, atol=1e-5)
    assert answer.usage.prompt_tokens == answer.usage.total_tokens > 10
    assert answer.model == "all-minilm-l6-v2"

    floats = client(live).embeddings.create(
        model="sentence-transformers/all-MiniLM-L6-v2", input="one", encoding_format="float"
    )
    assert len(floats.data[0].embedding) == 384
    e5 = client(live).embeddings.create(model="multilingual-e5-small", input="ciao")
    assert len(e5.data[0].embedding) == 384


def test_embedding_errors_use_the_openai_shape(live: Live) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        client(live).embeddings.create(model="nope", input="x")
    assert "all-minilm-l6-v2" in str(missing.value)
    with pytest.raises(openai.BadRequestError):
        client(live).embeddings.create(model="all-minilm-l6-v2", input=[[1, 2, 3]])
    with pytest.raises(openai.BadRequestError):
        client(live).embeddings.create(model="all-minilm-l6-v2", input="x", dimensions=16)
    with live.http() as http:
        empty = http.post("/openai/v1/embeddings", json={"model": "all-minilm-l6-v2", "input": []})
        assert empty.status_code == 400
        assert empty.json()["error"]["param"] == "input"
    unauthenticated = httpx.post(
        f"{live.url}/openai/v1/embeddings", json={"model": "all-minilm-l6-v2", "input": "x"}
    )
    assert unauthenticated.status_code == 401


def test_a_base_can_embed_through_a_remote_endpoint(live: Live, tmp_path: Path) -> None:
    remote = {
        "model": "all-minilm-l6-v2",
        "url": f"{live.url}/openai/v1",
        "api_key": live.tokens["bob"],
    }
    with live.http() as http:
        created = http.post(
            "/api/v1/knowledge-bases", json={"name": "remote", "embedding": remote}
        ).json()
        assert created["config"]["embedding"] == {
            "model": "all-minilm-l6-v2",
            "url": f"{live.url}/openai/v1",
            "has_api_key": True,
        }
        assert live.tokens["bob"] not in str(created)
        files = [
            (
                "file",
                ("a.txt", b"The target station uses a rotating tungsten wheel.", "text/plain"),
            ),
            ("file", ("b.txt", b"Staff parking is behind building 12.", "text/plain")),
        ]
        assert http.post("/api/v1/knowledge-bases/remote/documents", files=files).status_code == 202
        deadline = time.monotonic() + 60
        while http.get("/api/v1/knowledge-bases/remote").json()["status"] == "indexing":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        documents = http.get("/api/v1/knowledge-bases/remote/documents").json()["items"]
        assert {d["status"] for d in documents} == {"ready"}, documents
        answer = http.post(
            "/api/v1/knowledge-bases/remote/query", json={"query": "What is the target made of?"}
        ).json()
        assert answer["results"][0]["document_name"] == "a.txt"


def test_remote_embedding_urls_are_checked(tmp_path: Path, embedding_models: Any) -> None:
    settings = Settings(home=tmp_path / "home", demo=False, server={"ui": False})  # type: ignore[arg-type]
    platform = build_platform(settings)
    platform.start()
    service = attach_knowledge(platform, embedding_models)
    app = create_app(settings, platform)
    from fastapi.testclient import TestClient

    from tests.conftest import bearer, make_token

    token = make_token(platform, "alice")
    with TestClient(app) as http:
        for url in ("http://127.0.0.1:9/v1", "http://169.254.169.254/latest", "file:///etc/passwd"):
            response = http.post(
                "/api/v1/knowledge-bases",
                json={"name": "ssrf", "embedding": {"model": "x", "url": url}},
                headers=bearer(token),
            )
            assert response.status_code in (403, 422), (url, response.text)
    service.close()
    platform.close()
