"""Knowledge-base calls of the SDK: bases, documents, queries, evaluation, saved questions."""

from __future__ import annotations

import time
from collections.abc import Iterable
from contextlib import ExitStack
from pathlib import Path
from typing import Any, BinaryIO

import httpx

from aiplayground.errors import Unavailable

BASES = "/api/v1/knowledge-bases"


class KnowledgeMixin:
    """Methods for /api/v1/knowledge-bases (mixed into `Client`)."""

    http: httpx.Client

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """Provided by `Client`."""
        raise NotImplementedError

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Provided by `Client`."""
        raise NotImplementedError

    def create_knowledge_base(self, name: str, **fields: Any) -> dict[str, Any]:
        """Create a base (title, description, visibility, embedding, chunking, retrieval)."""
        result: dict[str, Any] = self.json("POST", BASES, json={"name": name, **fields})
        return result

    def list_knowledge_bases(self, **filters: Any) -> dict[str, Any]:
        """A page of bases: filters q, limit, offset."""
        params = {k: v for k, v in filters.items() if v is not None}
        result: dict[str, Any] = self.json("GET", BASES, params=params)
        return result

    def get_knowledge_base(self, name: str) -> dict[str, Any]:
        """One base with its indexing state."""
        result: dict[str, Any] = self.json("GET", f"{BASES}/{name}")
        return result

    def update_knowledge_base(self, name: str, **changes: Any) -> dict[str, Any]:
        """Change a base; new embedding or chunking settings re-index it."""
        result: dict[str, Any] = self.json("PATCH", f"{BASES}/{name}", json=changes)
        return result

    def delete_knowledge_base(self, name: str) -> None:
        """Delete a base and everything in it."""
        self.request("DELETE", f"{BASES}/{name}")

    def add_documents(self, name: str, files: Iterable[str | Path]) -> list[dict[str, Any]]:
        """Upload files (streamed from disk); answers each document and its status."""
        with ExitStack() as stack:
            parts: list[tuple[str, tuple[str, BinaryIO, str]]] = []
            for item in files:
                local = Path(item)
                handle = stack.enter_context(local.open("rb"))
                parts.append(("file", (local.name, handle, "application/octet-stream")))
            items: list[dict[str, Any]] = self.json(
                "POST", f"{BASES}/{name}/documents", files=parts
            )["items"]
            return items

    def list_documents(self, name: str, **filters: Any) -> dict[str, Any]:
        """A page of a base's documents: limit, offset."""
        params = {k: v for k, v in filters.items() if v is not None}
        result: dict[str, Any] = self.json("GET", f"{BASES}/{name}/documents", params=params)
        return result

    def delete_document(self, name: str, document_id: str) -> None:
        """Delete one document of a base."""
        self.request("DELETE", f"{BASES}/{name}/documents/{document_id}")

    def wait_for_knowledge_base(
        self, name: str, *, timeout: float = 600.0, interval: float = 0.5
    ) -> dict[str, Any]:
        """Poll until nothing is queued, processing or re-indexing; the base at that point."""
        deadline = time.monotonic() + timeout
        while True:
            info = self.get_knowledge_base(name)
            if info["status"] != "indexing":
                return info
            if time.monotonic() > deadline:
                raise Unavailable(f"knowledge base {name!r} still indexing after {timeout:g} s")
            time.sleep(interval)

    def query_knowledge_base(
        self,
        name: str,
        query: str,
        top_k: int | None = None,
        *,
        documents: list[str] | None = None,
        retrieval: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Passages matching a query: {"results": [...], "config_version", ...}."""
        body: dict[str, Any] = {"query": query, "top_k": top_k}
        if documents is not None:
            body["filters"] = {"documents": documents}
        if retrieval:
            body["retrieval"] = retrieval
        result: dict[str, Any] = self.json("POST", f"{BASES}/{name}/query", json=body)
        return result

    def evaluate_knowledge_base(
        self,
        name: str,
        questions: str | Path | list[dict[str, Any]] | None = None,
        k: int = 5,
        *,
        retrieval: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Recall@k and MRR for questions (a JSONL file, a list of question objects, or
        None for the base's saved questions)."""
        body: dict[str, Any] = {"k": k}
        if questions is not None:
            body["questions"] = _question_items(questions)
        if retrieval:
            body["retrieval"] = retrieval
        result: dict[str, Any] = self.json("POST", f"{BASES}/{name}/evaluate", json=body)
        return result

    def list_knowledge_questions(self, name: str) -> list[dict[str, Any]]:
        """The evaluation questions saved with a base."""
        items: list[dict[str, Any]] = self.json("GET", f"{BASES}/{name}/questions")["items"]
        return items

    def add_knowledge_questions(
        self, name: str, questions: str | Path | list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Save questions with a base: a JSONL file (as for evaluation) or question objects."""
        body = {"questions": _question_items(questions)}
        items: list[dict[str, Any]] = self.json("POST", f"{BASES}/{name}/questions", json=body)[
            "items"
        ]
        return items

    def delete_knowledge_question(self, name: str, question_id: str) -> None:
        """Delete one saved question of a base."""
        self.request("DELETE", f"{BASES}/{name}/questions/{question_id}")

    def compare_retrieval(
        self, name: str, configurations: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Recall@k and MRR per configuration (`{"k", "retrieval"}`) on the saved questions."""
        body = {"configurations": configurations}
        items: list[dict[str, Any]] = self.json("POST", f"{BASES}/{name}/compare", json=body)[
            "items"
        ]
        return items


def _question_items(questions: str | Path | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Question objects from a JSONL file (checked here, line by line) or as given."""
    if isinstance(questions, str | Path):
        from aiplayground.rag.evaluation import read_questions

        return [q.model_dump() for q in read_questions(Path(questions))]
    return questions
