"""Knowledge bases as chat's Retriever: citations, isolation, query rewriting."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiplayground.app import Platform
from aiplayground.catalog.files import IncomingFile
from aiplayground.chat.provider import ChatMessage
from aiplayground.errors import InvalidInput, NotFound
from aiplayground.rag.chat import KnowledgeRetriever
from aiplayground.rag.schemas import KnowledgeBaseCreate, KnowledgeBaseUpdate
from aiplayground.rag.service import KnowledgeBaseService
from tests.integration.rag.conftest import principal


@pytest.fixture
def service(
    platform: Platform, alice_token: str, bob_token: str, tmp_path: Path
) -> KnowledgeBaseService:
    knowledge: KnowledgeBaseService = platform.knowledge  # type: ignore[attr-defined]
    alice = principal(platform, "alice")
    knowledge.create(alice, KnowledgeBaseCreate(name="handbook"))
    files = {
        "badges.txt": "Visitor badges are collected at the reception of building 1.",
        "radiation.txt": "Dosimeters are read out every month by the radiation protection office.",
    }
    staged = []
    for name, text in files.items():
        (tmp_path / name).write_text(text)
        staged.append(IncomingFile(name, tmp_path / name))
    knowledge.add_documents(alice, "handbook", staged)
    assert knowledge.ingestor.wait_idle(60)
    return knowledge


async def test_sources_carry_citations(service: KnowledgeBaseService, platform: Platform) -> None:
    retriever = KnowledgeRetriever(service)
    sources = await retriever.retrieve(
        principal(platform, "alice"),
        {"knowledge_bases": ["handbook"], "top_k": 1},
        "Where do I get a visitor badge?",
        [],
    )
    assert len(sources) == 1
    source = sources[0]
    assert source.document == "badges.txt"
    assert source.metadata["knowledge_base"] == "handbook"
    assert source.metadata["file_name"] == "badges.txt"
    assert source.metadata["config_version"] == 1
    assert "text" not in source.metadata
    with pytest.raises(NotFound):
        await retriever.retrieve(
            principal(platform, "bob"), {"knowledge_bases": ["handbook"]}, "badge", []
        )
    with pytest.raises(InvalidInput):
        await retriever.retrieve(
            principal(platform, "alice"), {"knowledge_bases": [3], "top_k": 1}, "badge", []
        )


async def test_follow_ups_are_rewritten_when_the_base_asks(
    service: KnowledgeBaseService, platform: Platform
) -> None:
    alice = principal(platform, "alice")
    asked: list[str] = []

    async def rewrite(question: str, history: list[ChatMessage]) -> str:
        asked.append(question)
        return "How often are dosimeters read out?"

    retriever = KnowledgeRetriever(service, rewrite)
    history = [ChatMessage("user", "Tell me about dosimeters"), ChatMessage("assistant", "Sure.")]
    context = {"knowledge_bases": ["handbook"], "top_k": 1}
    plain = await retriever.retrieve(alice, context, "and how often?", history)
    assert asked == []  # the base does not ask for rewriting
    service.update(alice, "handbook", KnowledgeBaseUpdate(retrieval={"query_rewrite": True}))
    rewritten = await retriever.retrieve(alice, context, "and how often?", history)
    assert asked == ["and how often?"]
    assert rewritten[0].document == "radiation.txt"
    assert plain  # something was found either way
