"""A parsed document turned into stored chunks: split by the base's chunking, embedded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiplayground.rag.embedding import Embedder, Progress, Vectors, embed_in_batches
from aiplayground.rag.parse import Parsed
from aiplayground.rag.schemas import ChunkingConfig
from aiplayground.rag.splitter import Draft, split_parents, split_sections
from aiplayground.store.rag_tables import KnowledgeChunk
from aiplayground.store.tables import new_id

MAX_HEADING_CHARS = 2000


@dataclass
class Prepared:
    """A document's chunks for one index version, embedded and ready to write."""

    version: int
    parents: list[Draft]
    children: list[Draft]
    vectors: Vectors


def prepare(
    parsed: Parsed,
    version: int,
    config: dict[str, Any],
    embedder: Embedder,
    batch_size: int,
    progress: Progress | None = None,
) -> Prepared:
    """Split a parsed document as the configuration says and embed the matched chunks."""
    chunking = ChunkingConfig.model_validate(config["chunking"])
    count = embedder.count_tokens
    size, overlap = chunking.chunk_tokens, chunking.overlap_tokens
    if chunking.parent_tokens:
        parents = split_parents(parsed.sections, chunking.parent_tokens, size, overlap, count)
        children = [child for parent in parents for child in parent.children]
    else:
        parents, children = [], split_sections(parsed.sections, size, overlap, count)
    vectors = embed_in_batches(
        embedder.embed_documents, [c.text for c in children], batch_size, progress
    )
    return Prepared(version, parents, children, vectors)


def chunk_rows(base_id: str, document_id: str, prepared: Prepared) -> list[KnowledgeChunk]:
    """The table rows of a prepared document: parents (if any) and their children, in order."""
    rows: list[KnowledgeChunk] = []
    common = {
        "base_id": base_id,
        "document_id": document_id,
        "index_version": prepared.version,
    }
    if prepared.parents:
        for parent in prepared.parents:
            parent_id = new_id()
            rows.append(_row(parent_id, len(rows), "parent", None, parent, common))
            for child in parent.children:
                rows.append(_row(new_id(), len(rows), "chunk", parent_id, child, common))
    else:
        for child in prepared.children:
            rows.append(_row(new_id(), len(rows), "chunk", None, child, common))
    return rows


def _row(
    row_id: str, seq: int, kind: str, parent: str | None, draft: Draft, common: dict[str, Any]
) -> KnowledgeChunk:
    return KnowledgeChunk(
        id=row_id,
        seq=seq,
        kind=kind,
        parent_id=parent,
        text=draft.text,
        page=draft.page,
        heading=draft.heading[:MAX_HEADING_CHARS],
        tokens=draft.tokens,
        **common,
    )
