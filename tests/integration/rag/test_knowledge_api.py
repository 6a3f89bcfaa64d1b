"""Knowledge bases through the REST API: ingestion, queries, isolation, bad files, deletion."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from aiplayground.app import Platform
from aiplayground.errors import NotFound
from aiplayground.rag.index import collection_name
from aiplayground.rag.service import KnowledgeBaseService
from tests.conftest import bearer
from tests.integration.rag.conftest import principal, wait_ready
from tests.unit.rag.files import make_pdf, make_zip_bomb

BASES = "/api/v1/knowledge-bases"

PDF_PAGES = [
    "Safety rules for the tandem accelerator hall. Wear a dosimeter at all times.",
    "The cryogenic plant of the superconducting cyclotron is cooled with liquid helium "
    "delivered every Tuesday by the Linde truck; the helium recovery line returns 94 "
    "percent of the boil-off gas.",
]
MARKDOWN = """# Group meeting notes
## Computing
The analysis cluster has 64 nodes and uses the Slurm scheduler.
## Outreach
The open day for schools happens in May with guided tours of the detector lab.
"""
HTML = """<html><head><script>document.write('x')</script></head><body>
<h1>Cafeteria</h1><p>The cafeteria serves pasta and salad from noon to two.</p>
<h2>Prices</h2><p>A full lunch costs six euros for staff and students.</p></body></html>"""


def create(client: TestClient, token: str, name: str, **fields: Any) -> dict[str, Any]:
    response = client.post(BASES, json={"name": name, **fields}, headers=bearer(token))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def upload(
    client: TestClient, token: str, name: str, files: dict[str, bytes]
) -> list[dict[str, Any]]:
    parts = [("file", (n, data, "application/octet-stream")) for n, data in files.items()]
    response = client.post(f"{BASES}/{name}/documents", files=parts, headers=bearer(token))
    assert response.status_code == 202, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def query(client: TestClient, token: str, name: str, text: str, **body: Any) -> dict[str, Any]:
    response = client.post(
        f"{BASES}/{name}/query", json={"query": text, **body}, headers=bearer(token)
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


@pytest.fixture
def docs(client: TestClient, alice_token: str) -> dict[str, Any]:
    """A base with a PDF, a Markdown and an HTML file, ingested."""
    create(client, alice_token, "docs", title="Lab documents")
    items = upload(
        client,
        alice_token,
        "docs",
        {"lab.pdf": make_pdf(PDF_PAGES), "notes.md": MARKDOWN.encode(), "menu.html": HTML.encode()},
    )
    assert [d["status"] for d in items] == ["queued"] * 3
    info = wait_ready(client, "docs", alice_token)
    assert info["documents"]["ready"] == 3, info
    return {d["name"]: d for d in items}


def test_answer_only_in_the_pdf_cites_its_page(
    client: TestClient, alice_token: str, docs: dict[str, Any], platform: Platform
) -> None:
    answer = query(client, alice_token, "docs", "How is the cyclotron cryogenic plant cooled?")
    first = answer["results"][0]
    assert first["document_name"] == "lab.pdf"
    assert first["page"] == 2
    assert "liquid helium" in " ".join(first["text"].split())
    assert first["document"] == docs["lab.pdf"]["id"]
    assert set(first) >= {"document", "chunk", "score", "text", "page", "heading"}
    assert answer["config_version"] == 1

    markdown = query(client, alice_token, "docs", "How many nodes does the cluster have?")
    assert markdown["results"][0]["heading"] == "Group meeting notes > Computing"

    listed = client.get(f"{BASES}/docs/documents", headers=bearer(alice_token)).json()
    pdf = next(d for d in listed["items"] if d["name"] == "lab.pdf")
    assert (pdf["pages"], pdf["status"], pdf["progress"]) == (2, "ready", 1.0)

    service: KnowledgeBaseService = platform.knowledge  # type: ignore[attr-defined]
    passages = service.retrieve_for_chat(
        principal(platform, "alice"), ["docs"], "What does lunch cost?", 2
    )
    assert passages[0].file_name == "menu.html"
    assert passages[0].citation()["knowledge_base"] == "docs"
    assert "script" not in passages[0].text
    assert "document.write" not in passages[0].text


def test_another_users_private_base_is_404(
    client: TestClient,
    alice_token: str,
    bob_token: str,
    viewer_token: str,
    docs: dict[str, Any],
    platform: Platform,
) -> None:
    viewer = client.post(BASES, json={"name": "mine"}, headers=bearer(viewer_token))
    assert viewer.status_code == 403
    pdf_id = docs["lab.pdf"]["id"]
    for method, path, body in [
        ("GET", f"{BASES}/docs", None),
        ("POST", f"{BASES}/docs/query", {"query": "helium"}),
        ("GET", f"{BASES}/docs/documents", None),
        ("GET", f"{BASES}/docs/documents/{pdf_id}", None),
        ("GET", f"{BASES}/docs/documents/{pdf_id}/content", None),
        ("DELETE", f"{BASES}/docs/documents/{pdf_id}", None),
        ("POST", f"{BASES}/docs/evaluate", {"questions": [{"question": "x", "relevant": ["y"]}]}),
        ("PATCH", f"{BASES}/docs", {"title": "mine"}),
        ("DELETE", f"{BASES}/docs", None),
    ]:
        response = client.request(method, path, json=body, headers=bearer(bob_token))
        assert response.status_code == 404, (method, path, response.text)
    assert client.get(BASES, headers=bearer(bob_token)).json() == {"items": [], "total": 0}
    assert client.post(f"{BASES}/docs/query", json={"query": "x"}).status_code == 401
    service: KnowledgeBaseService = platform.knowledge  # type: ignore[attr-defined]
    with pytest.raises(NotFound):
        service.retrieve_for_chat(principal(platform, "bob"), ["docs"], "helium", 3)

    client.patch(f"{BASES}/docs", json={"visibility": "public"}, headers=bearer(alice_token))
    shared = query(client, bob_token, "docs", "helium delivery day")
    assert shared["results"][0]["document_name"] == "lab.pdf"
    refused = client.patch(f"{BASES}/docs", json={"title": "x"}, headers=bearer(bob_token))
    assert refused.status_code == 403
    upload_refused = client.post(
        f"{BASES}/docs/documents",
        files=[("file", ("x.txt", b"x", "text/plain"))],
        headers=bearer(bob_token),
    )
    assert upload_refused.status_code == 403


def test_bad_files_fail_alone_and_the_base_stays_usable(
    client: TestClient, alice_token: str, tmp_path: Path
) -> None:
    create(client, alice_token, "mixed")
    good = b"The beam dump is made of graphite and copper blocks."
    items = upload(
        client,
        alice_token,
        "mixed",
        {
            "broken.pdf": b"%PDF-1.4\n" + b"\x00\xff garbage " * 50,
            "bomb.docx": make_zip_bomb(tmp_path / "bomb.docx").read_bytes(),
            "tool.exe": b"MZ\x90\x00",
            "../../etc/passwd.txt": good,
        },
    )
    by_name = {d["name"]: d for d in items}
    assert by_name["tool.exe"]["status"] == "failed"
    assert "unsupported" in by_name["tool.exe"]["error"]
    assert "etc/passwd.txt" in by_name
    wait_ready(client, "mixed", alice_token)
    listed = {
        d["name"]: d
        for d in client.get(f"{BASES}/mixed/documents", headers=bearer(alice_token)).json()["items"]
    }
    assert listed["broken.pdf"]["status"] == "failed"
    assert "PDF" in listed["broken.pdf"]["error"]
    assert listed["bomb.docx"]["status"] == "failed"
    assert "zip bomb" in listed["bomb.docx"]["error"]
    assert listed["etc/passwd.txt"]["status"] == "ready"
    answer = query(client, alice_token, "mixed", "What is the beam dump made of?")
    assert answer["results"][0]["document_name"] == "etc/passwd.txt"

    again = upload(client, alice_token, "mixed", {"copy.txt": good})
    assert again[0]["duplicate"] is True
    assert again[0]["id"] == listed["etc/passwd.txt"]["id"]
    download = client.get(
        f"{BASES}/mixed/documents/{again[0]['id']}/content", headers=bearer(alice_token)
    )
    assert download.content == good
    assert download.headers["x-content-type-options"] == "nosniff"
    assert download.headers["content-disposition"].startswith("attachment")


def test_deleting_a_document_removes_its_vectors(
    client: TestClient, alice_token: str, docs: dict[str, Any], platform: Platform
) -> None:
    service: KnowledgeBaseService = platform.knowledge  # type: ignore[attr-defined]
    info = client.get(f"{BASES}/docs", headers=bearer(alice_token)).json()
    collection = collection_name(info["id"], info["index_version"])
    before = service.index.count(collection)
    pdf = docs["lab.pdf"]
    response = client.delete(f"{BASES}/docs/documents/{pdf['id']}", headers=bearer(alice_token))
    assert response.status_code == 204
    assert service.index.count(collection) == before - 2
    answer = query(client, alice_token, "docs", "How is the cyclotron cryogenic plant cooled?")
    assert all(r["document_name"] != "lab.pdf" for r in answer["results"])
    missing = client.get(f"{BASES}/docs/documents/{pdf['id']}", headers=bearer(alice_token))
    assert missing.status_code == 404
    after = client.get(f"{BASES}/docs", headers=bearer(alice_token)).json()
    assert after["documents"]["ready"] == 2

    assert client.delete(f"{BASES}/docs", headers=bearer(alice_token)).status_code == 204
    assert service.index.count(collection) == 0
    assert client.get(f"{BASES}/docs", headers=bearer(alice_token)).status_code == 404


def test_filters_threshold_and_names(
    client: TestClient, alice_token: str, docs: dict[str, Any]
) -> None:
    only = query(
        client, alice_token, "docs", "helium", filters={"documents": ["notes.md"]}, top_k=10
    )
    assert {r["document_name"] for r in only["results"]} == {"notes.md"}
    strict = query(client, alice_token, "docs", "helium", retrieval={"score_threshold": 0.99})
    assert strict["results"] == []
    unknown = client.post(
        f"{BASES}/docs/query",
        json={"query": "x", "filters": {"documents": ["nope.pdf"]}},
        headers=bearer(alice_token),
    )
    assert unknown.status_code == 422
    taken = client.post(BASES, json={"name": "docs"}, headers=bearer(alice_token))
    assert taken.status_code == 409
    bad = client.post(BASES, json={"name": "Bad Name!"}, headers=bearer(alice_token))
    assert bad.status_code == 422
    create(client, alice_token, "empty", retrieval={"mode": "hybrid", "mmr": True})
    assert query(client, alice_token, "empty", "anything")["results"] == []
    page = client.get(BASES, params={"q": "lab"}, headers=bearer(alice_token)).json()
    assert [b["name"] for b in page["items"]] == ["docs"]
    assert page["total"] == 1
