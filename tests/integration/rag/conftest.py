"""Platforms with knowledge bases, sharing one loaded embedding model per test session."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from aiplayground.app import Platform, build_platform
from aiplayground.auth.principal import Principal, Role
from aiplayground.rag.chat import KnowledgeRetriever
from aiplayground.rag.embedding import EmbeddingModels
from aiplayground.rag.service import KnowledgeBaseService
from aiplayground.settings import Settings
from tests.conftest import bearer

pytest.importorskip("chromadb")
pytest.importorskip("onnxruntime")


@pytest.fixture(scope="session")
def embedding_models() -> EmbeddingModels:
    """The packaged embedding models, loaded once for the whole test session."""
    return EmbeddingModels(threads=2, batch_size=32)


def attach_knowledge(
    platform: Platform, models: EmbeddingModels, **kwargs: Any
) -> KnowledgeBaseService:
    """The platform's knowledge service, rebuilt over the models shared by the session."""
    existing: KnowledgeBaseService | None = getattr(platform, "knowledge", None)
    if existing is not None:
        existing.close()
    service = KnowledgeBaseService(
        platform.db,
        platform.storage,
        platform.settings,
        platform.endpoints,
        models=models,
        **kwargs,
    )
    platform.knowledge = service
    platform.chat.retriever = KnowledgeRetriever(service)
    service.start()
    return service


@pytest.fixture
def settings(tmp_path: Any) -> Settings:
    """Settings in a temporary folder, API only, with quick parser bounds."""
    return Settings(
        home=tmp_path / "home",
        demo=False,
        server={"ui": False},  # type: ignore[arg-type]
        rag={"parse_timeout_s": 30, "ingestion_workers": 2},  # type: ignore[arg-type]
    )


@pytest.fixture
def platform(settings: Settings, embedding_models: EmbeddingModels) -> Iterator[Platform]:
    """A started platform with a knowledge service."""
    p = build_platform(settings)
    p.start()
    service = attach_knowledge(p, embedding_models)
    yield p
    service.close()
    p.close()


@pytest.fixture
def knowledge(platform: Platform) -> KnowledgeBaseService:
    """The platform's knowledge service."""
    return platform.knowledge


def principal(platform: Platform, name: str) -> Principal:
    """A test user as the services see it."""
    user = platform.auth.get_user(name)
    return Principal(user_id=user.id, name=user.name, role=Role(user.role))


def wait_ready(client: TestClient, name: str, token: str, timeout: float = 60.0) -> dict[str, Any]:
    """Poll a base until it is no longer indexing."""
    deadline = time.monotonic() + timeout
    while True:
        info: dict[str, Any] = client.get(
            f"/api/v1/knowledge-bases/{name}", headers=bearer(token)
        ).json()
        if info["status"] != "indexing":
            return info
        assert time.monotonic() < deadline, f"still indexing: {info}"
        time.sleep(0.1)
