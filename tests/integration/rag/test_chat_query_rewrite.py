"""Query rewriting in chat with the real embedded SmolLM2: a follow-up is searched for as a
standalone question, recorded with the answer's sources; a model that cannot answer leaves
the question as asked."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest

from aiplayground.app import Platform
from aiplayground.catalog.files import IncomingFile
from aiplayground.catalog.schemas import EndpointCreate, Objective, Protocol
from aiplayground.chat.provider import ChatMessage
from aiplayground.chat.query_rewrite import standalone_question
from aiplayground.chat.schemas import ConversationCreate
from aiplayground.rag.schemas import KnowledgeBaseCreate, RetrievalConfig
from aiplayground.rag.service import KnowledgeBaseService
from aiplayground.settings import Settings
from tests.integration.chat.conftest import add_gguf_model
from tests.integration.rag.conftest import principal

pytest.importorskip("llama_cpp")

MODEL = "smollm2"
FIRST = "What is the top quark?"
FOLLOW_UP = "and what about its mass?"
DOCUMENTS = {
    "top.txt": "The top quark is the heaviest known elementary particle. Its mass is about "
    "173 GeV, measured at the Tevatron and the LHC.",
    "muon.txt": "The muon is a charged lepton that lives 2.2 microseconds at rest.",
}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """API-only settings; loopback endpoints allowed (the refusing server is local)."""
    return Settings(
        home=tmp_path / "home",
        demo=False,
        server={"ui": False},  # type: ignore[arg-type]
        network={"allowed_hosts": ["127.0.0.1"]},  # type: ignore[arg-type]
        chat={"threads": 1},  # type: ignore[arg-type]
    )


@pytest.fixture
def knowledge(platform: Platform, alice_token: str, tmp_path: Path) -> KnowledgeBaseService:
    """A base that asks for rewriting, with two documents, and the SmolLM2 model."""
    service: KnowledgeBaseService = platform.knowledge
    alice = principal(platform, "alice")
    service.create(
        alice,
        KnowledgeBaseCreate(name="particles", retrieval=RetrievalConfig(query_rewrite=True)),
    )
    staged = []
    for name, text in DOCUMENTS.items():
        (tmp_path / name).write_text(text)
        staged.append(IncomingFile(name, tmp_path / name))
    service.add_documents(alice, "particles", staged)
    assert service.ingestor.wait_idle(60)
    add_gguf_model(platform, MODEL)
    return service


async def test_a_follow_up_is_searched_as_a_standalone_question(
    platform: Platform, knowledge: KnowledgeBaseService
) -> None:
    alice = principal(platform, "alice")
    chat = platform.chat
    conversation = await chat.create_conversation(
        alice,
        ConversationCreate(
            model=MODEL,
            settings={"max_new_tokens": 16, "temperature": 0},
            context={"knowledge_bases": ["particles"], "top_k": 1},
        ),
    )
    first = await (await chat.send_message(alice, conversation.id, FIRST, {})).collect()
    # The first turn has no history: the question is searched as asked.
    assert first.sources[0]["metadata"]["query"] == FIRST
    assert first.sources[0]["metadata"]["rewritten"] is False

    second = await (await chat.send_message(alice, conversation.id, FOLLOW_UP, {})).collect()
    meta = second.sources[0]["metadata"]
    assert meta["rewritten"] is True
    searched = meta["query"]
    assert searched != FOLLOW_UP
    assert "top quark" in searched.lower()  # standalone: it names its subject
    assert second.sources[0]["document"] == "top.txt"


async def test_a_model_that_fails_leaves_the_question_as_asked(
    platform: Platform, alice_token: str, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as sock:  # a port that nothing listens on: connection refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    alice = principal(platform, "alice")
    platform.models.register_endpoint(
        alice,
        EndpointCreate(
            name="refusing",
            url=f"http://127.0.0.1:{port}/v1",
            protocol=Protocol.OPENAI,
            remote_name="none",
            objective=Objective.TEXT_GENERATION,
            check=False,
        ),
    )
    served = await platform.chat.pool.get(alice, "refusing")
    history = [ChatMessage("user", FIRST), ChatMessage("assistant", "A heavy quark.")]
    with caplog.at_level(logging.WARNING, logger="aiplayground.chat.query_rewrite"):
        searched = await standalone_question(served.provider, FOLLOW_UP, history, timeout_s=10)
    assert searched == FOLLOW_UP
    assert "query rewriting failed" in caplog.text
