"""Saved evaluation questions of a knowledge base (REST, SDK, CLI) and comparing retrieval
settings on them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from aiplayground.cli import kb as kb_cli
from tests.conftest import bearer
from tests.inprocess import InProcessTransport
from tests.integration.rag.conftest import wait_ready
from tests.integration.rag.test_cli_sdk import KnowledgeClient
from tests.integration.rag.test_knowledge_api import create, upload

BASES = "/api/v1/knowledge-bases"
DOCUMENTS = {
    "shifts.md": b"# Shifts\nNight shifts start at 22:00 in the control room.\n",
    "helium.md": b"# Cryogenics\nLiquid helium is delivered every Tuesday by truck.\n",
    "badges.md": b"# Visitors\nVisitor badges are collected at the reception of building 1.\n",
}
QUESTIONS = [
    {"question": "When does the night shift start?", "relevant": ["shifts.md"]},
    {"question": "Which day does the helium arrive?", "relevant": ["helium.md"]},
]


@pytest.fixture
def base(client: TestClient, alice_token: str) -> str:
    """Alice's base with three ready documents."""
    create(client, alice_token, "ops")
    upload(client, alice_token, "ops", DOCUMENTS)
    assert wait_ready(client, "ops", alice_token)["documents"]["ready"] == 3
    return "ops"


def test_questions_are_saved_listed_scored_compared_and_deleted(
    client: TestClient, base: str, alice_token: str, bob_token: str
) -> None:
    alice, bob = bearer(alice_token), bearer(bob_token)
    url = f"{BASES}/{base}/questions"
    assert client.get(url, headers=alice).json() == {"items": [], "total": 0}
    # Nothing saved yet: evaluating or comparing on saved questions says so.
    empty = client.post(f"{BASES}/{base}/evaluate", json={"k": 1}, headers=alice)
    assert empty.status_code == 422
    assert "no saved questions" in empty.json()["error"]["message"]

    added = client.post(url, json={"questions": QUESTIONS}, headers=alice)
    assert added.status_code == 201, added.text
    saved = added.json()["items"]
    assert [q["question"] for q in saved] == [q["question"] for q in QUESTIONS]
    assert all(q["id"] and q["created_at"] for q in saved)
    listed = client.get(url, headers=alice).json()
    assert listed["total"] == 2
    assert listed["items"][1]["relevant"] == ["helium.md"]

    scored = client.post(f"{BASES}/{base}/evaluate", json={"k": 1}, headers=alice).json()
    assert scored["questions"] == 2
    assert scored["recall_at_k"] == 1.0

    compared = client.post(
        f"{BASES}/{base}/compare",
        json={
            "configurations": [
                {"k": 1, "retrieval": {"mode": "dense"}},
                {"k": 3, "retrieval": {"mode": "hybrid", "mmr": True}},
                {"k": 1, "retrieval": {"score_threshold": 0.99}},
            ]
        },
        headers=alice,
    )
    assert compared.status_code == 200, compared.text
    results = compared.json()["items"]
    assert [r["k"] for r in results] == [1, 3, 1]
    assert results[0]["recall_at_k"] == results[0]["mrr"] == 1.0
    assert results[1]["recall_at_k"] == 1.0
    assert results[2]["recall_at_k"] == 0.0  # nothing is that similar: nothing retrieved

    # Bob cannot see Alice's private base, nor its questions.
    assert client.get(url, headers=bob).status_code == 404
    assert client.post(url, json={"questions": QUESTIONS}, headers=bob).status_code == 404
    gone = client.delete(f"{url}/{saved[0]['id']}", headers=bob)
    assert gone.status_code == 404
    bobs = client.post(f"{BASES}/{base}/compare", json={"configurations": [{}]}, headers=bob)
    assert bobs.status_code == 404

    # Bad input: empty relevant list, unknown field, too many configurations.
    bad = client.post(url, json={"questions": [{"question": "x", "relevant": []}]}, headers=alice)
    assert bad.status_code in (400, 422)
    many = client.post(f"{BASES}/{base}/compare", json={"configurations": [{}] * 9}, headers=alice)
    assert many.status_code in (400, 422)

    assert client.delete(f"{url}/{saved[0]['id']}", headers=alice).status_code == 204
    assert client.delete(f"{url}/{saved[0]['id']}", headers=alice).status_code == 404
    assert [q["question"] for q in client.get(url, headers=alice).json()["items"]] == [
        QUESTIONS[1]["question"]
    ]
    # Deleting the base deletes its questions with it.
    assert client.delete(f"{BASES}/{base}", headers=alice).status_code == 204
    create(client, alice_token, base)
    assert client.get(url, headers=alice).json()["total"] == 0


@pytest.fixture
def sdk(app: FastAPI, alice_token: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """An in-process SDK client; the CLI commands get one of their own each."""
    transports: list[InProcessTransport] = []

    def make(url: str = "http://testserver", token: str | None = None) -> Any:
        transport = InProcessTransport(app)
        transports.append(transport)
        return KnowledgeClient("http://testserver", alice_token, transport=transport)

    monkeypatch.setattr(kb_cli, "connect", make)
    yield make()
    for transport in transports:
        transport.close()


def test_sdk_and_cli_add_import_list_and_remove(sdk: Any, base: str, tmp_path: Path) -> None:
    runner = CliRunner()
    lines = tmp_path / "questions.jsonl"
    lines.write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS))

    one = runner.invoke(
        kb_cli.kb_app,
        [
            "questions",
            "add",
            base,
            "--question",
            "Where are visitor badges collected?",
            "--relevant",
            "badges.md",
        ],
    )
    assert one.exit_code == 0, one.output
    assert "saved 1 question with ops" in one.stdout
    imported = runner.invoke(kb_cli.kb_app, ["questions", "add", base, "--file", str(lines)])
    assert imported.exit_code == 0, imported.output
    assert "saved 2 questions" in imported.stdout
    neither = runner.invoke(kb_cli.kb_app, ["questions", "add", base])
    assert neither.exit_code == 2

    listed = runner.invoke(kb_cli.kb_app, ["questions", "list", base, "--json"])
    assert listed.exit_code == 0, listed.output
    items = json.loads(listed.stdout)
    assert [q["relevant"] for q in items] == [["badges.md"], ["shifts.md"], ["helium.md"]]
    table = runner.invoke(kb_cli.kb_app, ["questions", "list", base])
    assert "Where are visitor badges collected?" in table.stdout

    scored = runner.invoke(kb_cli.kb_app, ["eval", base, "-k", "1"])  # the saved questions
    assert scored.exit_code == 0, scored.output
    assert "3 questions  recall@1 1.0000" in scored.stdout

    removed = runner.invoke(kb_cli.kb_app, ["questions", "rm", base, items[0]["id"]])
    assert removed.exit_code == 0, removed.output
    assert len(sdk.list_knowledge_questions(base)) == 2
    missing = runner.invoke(kb_cli.kb_app, ["questions", "rm", base, items[0]["id"]])
    assert missing.exit_code == 1
    assert "not_found" in missing.stderr

    results = sdk.compare_retrieval(base, [{"k": 1}, {"k": 2, "retrieval": {"mode": "hybrid"}}])
    assert [r["questions"] for r in results] == [2, 2]
    compared = runner.invoke(
        kb_cli.kb_app, ["compare", base, "--config", "k=1", "--config", "mode=hybrid,k=2"]
    )
    assert compared.exit_code == 0, compared.output
    rows = [line for line in compared.stdout.splitlines() if "=" in line]
    assert [row.split()[0] for row in rows] == ["k=1", "mode=hybrid,k=2"]
    as_json = runner.invoke(
        kb_cli.kb_app, ["compare", base, "--config", "k=1", "--config", "mmr=true", "--json"]
    )
    assert [r["k"] for r in json.loads(as_json.stdout)] == [1, 5]
    bad = runner.invoke(kb_cli.kb_app, ["compare", base, "--config", "mode=sideways"])
    assert bad.exit_code == 1
    assert "mode" in bad.stderr
    malformed = runner.invoke(kb_cli.kb_app, ["compare", base, "--config", "hybrid"])
    assert malformed.exit_code == 2
    saved = sdk.add_knowledge_questions(base, [{"question": "badge desk", "relevant": ["x.md"]}])
    assert saved[0]["relevant"] == ["x.md"]
