"""The Chat page's knowledge-base panel in a real browser: make a base, upload a document,
watch it become ready, attach it, ask, and open the answer's citation."""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveServer
from tests.e2e.test_chat import ask, open_chat, set_param, wait_until_answered

pytestmark = pytest.mark.e2e

INGEST_TIMEOUT_MS = 30_000
REWRITE_TIMEOUT_MS = 150_000
FACT = "The Zorblax detector at LNGS has 42 cryogenic modules."
DOCUMENT = f"""# Zorblax detector

{FACT} Each module is cooled to ten millikelvin and read out by superconducting sensors.

## Location

It sits in Hall C of the Gran Sasso underground laboratory, under 1400 metres of rock.
"""


def test_upload_a_document_attach_it_ask_and_open_the_citation(
    admin_page: Page,
    live_server: LiveServer,
    admin_api: httpx.Client,
    chat_model: str,
    tmp_path: Path,
) -> None:
    page, base = admin_page, live_server.base_url
    name = f"e2e-kb-{secrets.token_hex(3)}"
    document = tmp_path / "zorblax.md"
    document.write_text(DOCUMENT)
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.7\nthis is not really a PDF")
    try:
        open_chat(page, base, chat_model)
        set_param(page, "max_new_tokens", "12")
        panel = page.get_by_test_id("settings-knowledge-bases")
        panel.locator(".q-item").first.click()

        # A new base, made and attached in the panel.
        panel.get_by_test_id("kb-new").click()
        panel.get_by_test_id("kb-new-name").fill(name)
        panel.get_by_test_id("kb-create").click()
        expect(panel.get_by_test_id("chat-knowledge")).to_contain_text(name)
        expect(panel.get_by_test_id("kb-documents")).to_contain_text("No documents")

        # Upload: one document is ingested, a corrupt PDF fails with its reason.
        files = panel.get_by_test_id("kb-upload").locator("input[type=file]")
        files.set_input_files([document, broken])
        rows = panel.get_by_test_id("kb-document")
        expect(rows).to_have_count(2)
        ready = rows.filter(has_text="zorblax.md")
        expect(ready).to_have_attribute("data-status", "ready", timeout=INGEST_TIMEOUT_MS)
        expect(ready.get_by_test_id("kb-document-status")).to_contain_text("chunk")
        failed = rows.filter(has_text="broken.pdf")
        expect(failed).to_have_attribute("data-status", "failed", timeout=INGEST_TIMEOUT_MS)
        expect(failed.get_by_test_id("kb-document-error")).not_to_be_empty()
        failed.get_by_test_id("kb-document-remove").click()
        expect(rows).to_have_count(1)

        # Ask: the answer cites the passage, which opens with its file and text.
        ask(page, "How many cryogenic modules does the Zorblax detector have?")
        wait_until_answered(page, 1)
        chips = page.get_by_test_id("answer-source")
        expect(chips.first).to_be_visible()
        expect(chips.first).to_contain_text("zorblax.md")
        expect(chips.first).to_contain_text("1")
        chips.first.click()
        dialog = page.get_by_test_id("citation-dialog")
        expect(dialog.get_by_test_id("citation-file")).to_have_text("zorblax.md")
        expect(dialog.get_by_test_id("citation-text")).to_contain_text("42 cryogenic modules")
        expect(dialog.get_by_test_id("citation-meta")).to_contain_text("Score")
        href = dialog.get_by_test_id("citation-download").get_attribute("href")
        assert href is not None
        assert href.startswith(f"/api/v1/knowledge-bases/{name}/documents/")
        downloaded = admin_api.get(href)
        assert downloaded.status_code == 200
        assert downloaded.text == DOCUMENT
        # The browser's own session may download it too (same-origin link).
        status = page.evaluate(f"fetch({href!r}).then(r => r.status)")
        assert status == 200
        page.keyboard.press("Escape")
        expect(dialog).to_have_count(0)

        conversation_id = page.url.rsplit("c=", 1)[1]
        stored = admin_api.get(f"/api/v1/conversations/{conversation_id}").json()
        assert stored["context"]["knowledge_bases"] == [name]
        answer = stored["messages"][1]
        assert answer["sources"][0]["metadata"]["knowledge_base"] == name
        assert answer["sources"][0]["document"] == "zorblax.md"

        # Reopened, the conversation shows its base attached and its citations again.
        page.reload()
        expect(page.get_by_test_id("answer-source").first).to_contain_text("zorblax.md")
        expect(page.get_by_test_id("chat-knowledge")).to_contain_text(name)

        # With query rewriting on, a follow-up is searched for as a standalone question,
        # shown next to the citations.
        changed = admin_api.patch(
            f"/api/v1/knowledge-bases/{name}", json={"retrieval": {"query_rewrite": True}}
        )
        assert changed.status_code == 200, changed.text
        ask(page, "And where is it located?")
        follow_up = page.get_by_test_id("chat-answer").nth(1)
        # Two generations (the rewrite, then the answer) on a busy CI machine: more time.
        expect(follow_up.get_by_test_id("answer-meta")).to_contain_text(
            "tokens", timeout=REWRITE_TIMEOUT_MS
        )
        searched = follow_up.get_by_test_id("answer-searched-for")
        expect(searched).to_contain_text("searched for: ")
        expect(searched).to_contain_text("Zorblax")
    finally:
        admin_api.delete(f"/api/v1/knowledge-bases/{name}")
        listed = admin_api.get("/api/v1/conversations", params={"limit": 500}).json()
        for conversation in listed["items"]:
            if conversation["model"] == chat_model:
                admin_api.delete(f"/api/v1/conversations/{conversation['id']}")


def test_save_two_questions_and_compare_retrieval_settings(
    admin_page: Page,
    live_server: LiveServer,
    admin_api: httpx.Client,
    chat_model: str,
    tmp_path: Path,
) -> None:
    page, base = admin_page, live_server.base_url
    name = f"e2e-cmp-{secrets.token_hex(3)}"
    created = admin_api.post("/api/v1/knowledge-bases", json={"name": name})
    assert created.status_code == 201, created.text
    files = {
        "zorblax.md": DOCUMENT,
        "canteen.md": "# Canteen\nThe canteen serves lunch from noon to two, pasta on Fridays.\n",
    }
    parts = [("file", (n, text.encode(), "text/markdown")) for n, text in files.items()]
    uploaded = admin_api.post(f"/api/v1/knowledge-bases/{name}/documents", files=parts)
    assert uploaded.status_code == 202, uploaded.text
    try:
        open_chat(page, base, chat_model)
        panel = page.get_by_test_id("settings-knowledge-bases")
        panel.locator(".q-item").first.click()
        panel.get_by_test_id("kb-manage").click()
        page.get_by_role("option", name=name, exact=True).click()
        rows = panel.get_by_test_id("kb-document")
        expect(rows.filter(has_text="canteen.md")).to_have_attribute(
            "data-status", "ready", timeout=INGEST_TIMEOUT_MS
        )
        expect(rows.filter(has_text="zorblax.md")).to_have_attribute(
            "data-status", "ready", timeout=INGEST_TIMEOUT_MS
        )

        questions = panel.get_by_test_id("kb-questions")
        for question, document in (
            ("How many cryogenic modules does the detector have?", "zorblax.md"),
            ("When is lunch served?", "canteen.md"),
        ):
            questions.get_by_test_id("kb-question-text").fill(question)
            questions.get_by_test_id("kb-question-docs").click()
            page.get_by_role("option", name=document, exact=True).click()
            page.keyboard.press("Escape")
            questions.get_by_test_id("kb-question-add").click()
            expect(
                questions.get_by_test_id("kb-question").filter(has_text=question)
            ).to_contain_text(document)
        expect(questions.get_by_test_id("kb-question")).to_have_count(2)

        questions.get_by_test_id("kb-compare").click()
        dialog = page.get_by_test_id("compare-dialog")
        expect(dialog.get_by_test_id("compare-config")).to_have_count(2)
        dialog.get_by_test_id("compare-run").click()
        results = dialog.get_by_test_id("compare-results")
        table_rows = results.get_by_test_id("compare-row")
        expect(table_rows).to_have_count(2, timeout=INGEST_TIMEOUT_MS)
        expect(table_rows.nth(0)).to_contain_text("dense")
        expect(table_rows.nth(1)).to_contain_text("hybrid")
        expect(results).to_contain_text("2 saved questions")
        expect(results.get_by_test_id("compare-best").first).to_be_visible()

        saved = admin_api.get(f"/api/v1/knowledge-bases/{name}/questions").json()
        assert [q["relevant"] for q in saved["items"]] == [["zorblax.md"], ["canteen.md"]]
    finally:
        admin_api.delete(f"/api/v1/knowledge-bases/{name}")
