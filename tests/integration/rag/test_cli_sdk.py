"""`aiplayground kb ...` and the SDK's knowledge-base calls against an in-process app."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

from aiplayground import errors
from aiplayground.cli import kb as kb_cli
from aiplayground.sdk import Client
from aiplayground.sdk.knowledge import KnowledgeMixin
from tests.inprocess import InProcessTransport
from tests.unit.rag.files import make_pdf

# Until the composition root mixes KnowledgeMixin into Client, the tests do it.
KnowledgeClient: Any = (
    Client if issubclass(Client, KnowledgeMixin) else type("KClient", (Client, KnowledgeMixin), {})
)


@pytest.fixture
def connect(app: FastAPI, alice_token: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The CLI's connection, made in-process; yields a factory of SDK clients."""
    transports: list[InProcessTransport] = []

    def make(url: str = "http://testserver", token: str | None = alice_token) -> Any:
        transport = InProcessTransport(app)
        transports.append(transport)
        return KnowledgeClient("http://testserver", token or alice_token, transport=transport)

    monkeypatch.setattr(kb_cli, "connect", make)
    yield make
    for transport in transports:
        transport.close()


def test_sdk_round_trip(connect: Any, tmp_path: Path) -> None:
    pdf = tmp_path / "manual.pdf"
    pdf.write_bytes(make_pdf(["Intro.", "The interlock key is kept in the control room safe."]))
    with connect() as sdk:
        sdk.create_knowledge_base("manuals", title="Manuals", retrieval={"mode": "hybrid"})
        documents = sdk.add_documents("manuals", [pdf])
        assert documents[0]["status"] == "queued"
        info = sdk.wait_for_knowledge_base("manuals", timeout=60)
        assert info["documents"]["ready"] == 1
        answer = sdk.query_knowledge_base("manuals", "Where is the interlock key?", 2)
        assert answer["results"][0]["page"] == 2
        only = sdk.query_knowledge_base("manuals", "key", documents=["manual.pdf"])
        assert only["results"]
        result = sdk.evaluate_knowledge_base(
            "manuals", [{"question": "interlock key location", "relevant": ["manual.pdf"]}], k=1
        )
        assert (result["recall_at_k"], result["mrr"]) == (1.0, 1.0)
        assert sdk.list_knowledge_bases(q="manu")["total"] == 1
        assert sdk.list_documents("manuals")["total"] == 1
        sdk.update_knowledge_base("manuals", description="How-tos")
        sdk.delete_document("manuals", documents[0]["id"])
        sdk.delete_knowledge_base("manuals")
        with pytest.raises(errors.NotFound):
            sdk.get_knowledge_base("manuals")


def test_cli_create_add_query_eval_delete(connect: Any, tmp_path: Path) -> None:
    runner = CliRunner()
    notes = tmp_path / "notes.md"
    notes.write_text("# Shifts\nNight shifts start at 22:00 in the control room.\n")
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4 broken")
    created = runner.invoke(kb_cli.kb_app, ["create", "ops", "--mode", "hybrid", "--top-k", "3"])
    assert created.exit_code == 0, created.output
    added = runner.invoke(kb_cli.kb_app, ["add", "ops", str(notes), str(broken), "--json"])
    assert added.exit_code == 1, added.output  # one file failed; the other is in
    statuses = {d["name"]: d["status"] for d in json.loads(added.stdout)}
    assert statuses == {"notes.md": "ready", "broken.pdf": "failed"}
    found = runner.invoke(kb_cli.kb_app, ["query", "ops", "When do night shifts start?"])
    assert found.exit_code == 0, found.output
    assert "notes.md" in found.stdout
    assert "22:00" in found.stdout
    questions = tmp_path / "questions.jsonl"
    questions.write_text(
        json.dumps({"question": "night shift start time", "relevant": ["notes.md"]}) + "\n"
    )
    scored = runner.invoke(kb_cli.kb_app, ["eval", "ops", "--questions", str(questions)])
    assert scored.exit_code == 0, scored.output
    assert "recall@5 1.0000" in scored.stdout
    assert "MRR 1.0000" in scored.stdout
    listed = runner.invoke(kb_cli.kb_app, ["list"])
    assert "ops" in listed.stdout
    deleted = runner.invoke(kb_cli.kb_app, ["delete", "ops"])
    assert deleted.exit_code == 0
    missing = runner.invoke(kb_cli.kb_app, ["query", "ops", "x"])
    assert missing.exit_code == 1
    assert "not_found" in missing.stderr
