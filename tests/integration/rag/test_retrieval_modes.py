"""Retrieval settings of a base: hybrid, MMR, evaluation, re-indexing, restart, e5."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import update

from aiplayground.app import Platform
from aiplayground.catalog.files import IncomingFile
from aiplayground.rag.embedding import EmbeddingModels
from aiplayground.rag.index import collection_name
from aiplayground.rag.schemas import KnowledgeBaseCreate
from aiplayground.rag.service import KnowledgeBaseService
from aiplayground.store.rag_tables import KnowledgeDocument
from tests.conftest import bearer
from tests.integration.rag.conftest import attach_knowledge, principal, wait_ready
from tests.integration.rag.test_knowledge_api import BASES, create, query, upload

SUPPLIES = {
    f"ps-{code}.txt": (
        f"Magnet power supply PS-{code} of the beam line {line} was inspected {when}; "
        f"its cooling water flow and output current were within tolerance."
    ).encode()
    for code, line, when in [
        ("1024", "north", "on Monday"),
        ("5510", "east", "last month"),
        ("7731", "south", "yesterday"),
        ("2048", "west", "in spring"),
        ("9090", "north", "in winter"),
    ]
}


def test_hybrid_finds_rare_identifiers(client: TestClient, alice_token: str) -> None:
    create(client, alice_token, "supplies", retrieval={"mode": "hybrid", "top_k": 3})
    upload(client, alice_token, "supplies", SUPPLIES)
    wait_ready(client, "supplies", alice_token)
    answer = query(client, alice_token, "supplies", "PS-7731")
    first = answer["results"][0]
    assert first["document_name"] == "ps-7731.txt"
    assert first["score"] < 0.05  # a fused reciprocal-rank score
    assert 0 < first["similarity"] <= 1
    dense = query(client, alice_token, "supplies", "PS-7731", retrieval={"mode": "dense"})
    assert all(r["score"] == r["similarity"] for r in dense["results"])


def test_mmr_diversifies(client: TestClient, alice_token: str) -> None:
    same = "The vacuum pumps of the linear accelerator are serviced every six months."
    files = {
        "a.txt": same.encode(),
        "b.txt": (same + " ").encode() + b"Service reports are archived.",
        "c.txt": same.replace("six", "6").encode(),
        "d.txt": b"Turbomolecular pumps need a roughing pump and cooling water to run.",
    }
    create(client, alice_token, "pumps")
    upload(client, alice_token, "pumps", files)
    wait_ready(client, "pumps", alice_token)
    plain = query(client, alice_token, "pumps", "vacuum pump maintenance", top_k=2)
    assert {r["document_name"] for r in plain["results"]} <= {"a.txt", "b.txt", "c.txt"}
    diverse = query(
        client,
        alice_token,
        "pumps",
        "vacuum pump maintenance",
        top_k=2,
        retrieval={"mmr": True, "mmr_lambda": 0.3},
    )
    assert "d.txt" in {r["document_name"] for r in diverse["results"]}


def test_evaluation_scores_recall_and_mrr(client: TestClient, alice_token: str) -> None:
    create(client, alice_token, "supplies")
    upload(client, alice_token, "supplies", SUPPLIES)
    wait_ready(client, "supplies", alice_token)
    questions = [
        {
            "question": "Which supply on the south beam line was inspected yesterday?",
            "relevant": ["ps-7731.txt"],
        },
        {
            "question": "power supply checked in winter on the north line",
            "relevant": ["ps-9090.txt"],
        },
        {"question": "something no file talks about", "relevant": ["missing.txt"]},
    ]
    response = client.post(
        f"{BASES}/supplies/evaluate",
        json={"questions": questions, "k": 3},
        headers=bearer(alice_token),
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["questions"] == 3
    assert result["k"] == 3
    assert 0.6 <= result["recall_at_k"] <= 2 / 3 + 1e-6
    assert 0.3 < result["mrr"] <= 2 / 3 + 1e-6
    assert result["unknown_documents"] == ["missing.txt"]


def test_new_chunking_reindexes_in_the_background(
    client: TestClient, alice_token: str, platform: Platform
) -> None:
    service: KnowledgeBaseService = platform.knowledge  # type: ignore[attr-defined]
    create(client, alice_token, "supplies")
    upload(client, alice_token, "supplies", SUPPLIES)
    first = wait_ready(client, "supplies", alice_token)
    changed = client.patch(
        f"{BASES}/supplies",
        json={"chunking": {"chunk_tokens": 16, "overlap_tokens": 4, "parent_tokens": 64}},
        headers=bearer(alice_token),
    ).json()
    assert changed["config_version"] == 2
    assert changed["reindexing_to"] == 2
    assert changed["status"] == "indexing"
    # Queries keep working on the live index meanwhile.
    assert query(client, alice_token, "supplies", "PS-7731")["index_version"] in (1, 2)
    done = wait_ready(client, "supplies", alice_token)
    assert (done["index_version"], done["reindexing_to"]) == (2, None)
    assert done["chunks"] > first["chunks"]
    assert service.index.count(collection_name(done["id"], 1)) == 0
    answer = query(client, alice_token, "supplies", "Which supply was inspected yesterday?")
    top = answer["results"][0]
    assert (answer["config_version"], answer["index_version"]) == (2, 2)
    assert top["matched_chunk"]
    assert top["matched_chunk"] != top["chunk"]

    retrieval_only = client.patch(
        f"{BASES}/supplies", json={"retrieval": {"top_k": 2}}, headers=bearer(alice_token)
    ).json()
    assert retrieval_only["config_version"] == 3
    assert retrieval_only["status"] == "ready"
    assert retrieval_only["index_version"] == 2
    assert retrieval_only["config"]["chunking"]["chunk_tokens"] == 16
    assert len(query(client, alice_token, "supplies", "supply")["results"]) == 2
    bad = client.patch(
        f"{BASES}/supplies", json={"chunking": {"overlap_tokens": 99}}, headers=bearer(alice_token)
    )
    assert bad.status_code == 422


def test_unfinished_ingestion_resumes_after_a_restart(
    platform: Platform, embedding_models: EmbeddingModels, tmp_path: Path, alice_token: str
) -> None:
    alice = principal(platform, "alice")
    service: KnowledgeBaseService = platform.knowledge  # type: ignore[attr-defined]
    service.create(alice, KnowledgeBaseCreate(name="restart"))
    service.ingestor.submit_document = lambda document_id: None  # type: ignore[method-assign]
    files = []
    for name, data in list(SUPPLIES.items())[:2]:
        path = tmp_path / name
        path.write_bytes(data)
        files.append(IncomingFile(name, path))
    added = service.add_documents(alice, "restart", files)
    with platform.db.session() as s:  # as if the server died mid-way through one
        s.execute(
            update(KnowledgeDocument)
            .where(KnowledgeDocument.id == added[0].id)
            .values(status="processing", progress=0.5)
        )
    restarted = attach_knowledge(platform, embedding_models)
    assert restarted.ingestor.wait_idle(60)
    states = {d.name: d.status for d in restarted.list_documents(alice, "restart").items}
    assert states == {"ps-1024.txt": "ready", "ps-5510.txt": "ready"}


def test_multilingual_model_matches_across_languages(client: TestClient, alice_token: str) -> None:
    create(client, alice_token, "multi", embedding={"model": "multilingual-e5-small"})
    upload(
        client,
        alice_token,
        "multi",
        {
            "detector.txt": b"The drift chamber is filled with an argon and CO2 gas mixture.",
            "canteen.txt": b"Lunch in the canteen is served between noon and two.",
        },
    )
    info = wait_ready(client, "multi", alice_token)
    assert info["config"]["embedding"]["model"] == "multilingual-e5-small"
    answer = query(client, alice_token, "multi", "Quale gas riempie la camera a deriva?")
    assert answer["results"][0]["document_name"] == "detector.txt"
    unknown = client.post(
        BASES, json={"name": "x", "embedding": {"model": "bert-huge"}}, headers=bearer(alice_token)
    )
    assert unknown.status_code == 404
    assert "all-minilm-l6-v2" in unknown.json()["error"]["message"]
