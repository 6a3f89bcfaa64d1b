"""Answering queries over a base's live index: results with citations, chat, evaluation."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from aiplayground.errors import ValidationFailed
from aiplayground.rag import config as cfg
from aiplayground.rag.config import EmbedderFactory
from aiplayground.rag.evaluation import read_questions, score
from aiplayground.rag.index import VectorIndex, collection_name
from aiplayground.rag.ingest import Ingestor
from aiplayground.rag.retrieval import Corpus, Scored, search
from aiplayground.rag.schemas import (
    EvalQuestion,
    EvaluationResult,
    QueryFilters,
    QueryResponse,
    QueryResult,
    RetrievalMode,
    RetrievalOverride,
)
from aiplayground.store.db import Database
from aiplayground.store.rag_tables import (
    KnowledgeBase,
    KnowledgeBaseConfig,
    KnowledgeChunk,
    KnowledgeDocument,
)

# Turns a follow-up question into a standalone one (chat gives one backed by its LLM).
Rewriter = Callable[[str], str]
PARENT_FANOUT = 3


@dataclass
class Passage:
    """A retrieved passage for a chat prompt, with what its citation shows."""

    text: str
    knowledge_base: str
    document: str
    file_name: str
    chunk: str
    score: float
    similarity: float | None
    page: int | None
    heading: str
    config_version: int
    index_version: int
    query: str = ""
    rewritten: bool = False

    def citation(self) -> dict[str, Any]:
        """Everything but the text, for the answer's list of sources."""
        data = asdict(self)
        data.pop("text")
        return data


class QueryEngine:
    """Runs retrieval for bases the caller was already allowed to read."""

    def __init__(
        self, db: Database, index: VectorIndex, embedder_for: EmbedderFactory, ingestor: Ingestor
    ) -> None:
        self.db = db
        self.index = index
        self.embedder_for = embedder_for
        self.ingestor = ingestor
        self._lock = threading.Lock()
        self._corpora: dict[tuple[str, int], tuple[tuple[int, int], Corpus]] = {}

    def query(
        self,
        base: KnowledgeBase,
        query: str,
        top_k: int | None,
        filters: QueryFilters | None,
        override: RetrievalOverride | None,
        rewrite: Rewriter | None,
    ) -> QueryResponse:
        """Search one base's live index."""
        settings = cfg.retrieval(base.config, override)
        if settings.query_rewrite and rewrite is not None:
            query = rewrite(query) or query
        k = top_k or settings.top_k
        version = base.index_version
        with self.db.session() as s:
            index_config = s.scalar(
                select(KnowledgeBaseConfig.config).where(
                    KnowledgeBaseConfig.base_id == base.id, KnowledgeBaseConfig.version == version
                )
            )
            documents = self._documents(s, base.id, filters)
        config = dict(index_config or base.config)
        parents = bool(config["chunking"].get("parent_tokens"))
        corpus = self._corpus(base.id, version) if settings.mode is RetrievalMode.HYBRID else None
        scored = search(
            self.index,
            collection_name(base.id, version),
            self.embedder_for(config),
            query,
            settings,
            k * PARENT_FANOUT if parents else k,
            documents=documents,
            corpus=corpus,
        )
        return QueryResponse(
            results=self._results(scored, k),
            query=query,
            knowledge_base=base.name,
            config_version=base.config_version,
            index_version=version,
        )

    def _documents(
        self, s: Session, base_id: str, filters: QueryFilters | None
    ) -> list[str] | None:
        if filters is None or filters.documents is None:
            return None
        wanted = list(dict.fromkeys(filters.documents))
        rows = s.execute(
            select(KnowledgeDocument.id, KnowledgeDocument.name).where(
                KnowledgeDocument.base_id == base_id,
                or_(KnowledgeDocument.id.in_(wanted), KnowledgeDocument.name.in_(wanted)),
            )
        ).all()
        unknown = set(wanted) - {r.id for r in rows} - {r.name for r in rows}
        if unknown:
            raise ValidationFailed(
                f"filters.documents names no document of this base: {sorted(unknown)[:5]}",
                details={"field": "filters.documents"},
            )
        return [r.id for r in rows]

    def _results(self, scored: list[Scored], k: int) -> list[QueryResult]:
        if not scored:
            return []
        with self.db.session() as s:
            chunks = {
                c.id: c
                for c in s.scalars(
                    select(KnowledgeChunk).where(
                        KnowledgeChunk.id.in_([x.chunk_id for x in scored])
                    )
                )
            }
            parent_ids = {c.parent_id for c in chunks.values() if c.parent_id}
            parents = {
                p.id: p
                for p in s.scalars(select(KnowledgeChunk).where(KnowledgeChunk.id.in_(parent_ids)))
            }
            names = {
                row.id: row.name
                for row in s.execute(
                    select(KnowledgeDocument.id, KnowledgeDocument.name).where(
                        KnowledgeDocument.id.in_({c.document_id for c in chunks.values()})
                    )
                )
            }
        results: list[QueryResult] = []
        seen: set[str] = set()
        for hit in scored:
            chunk = chunks.get(hit.chunk_id)
            if chunk is None or chunk.document_id not in names:
                continue  # deleted while the query ran
            shown = parents.get(chunk.parent_id or "", chunk)
            if shown.id in seen:
                continue
            seen.add(shown.id)
            results.append(
                QueryResult(
                    document=chunk.document_id,
                    document_name=names[chunk.document_id],
                    chunk=shown.id,
                    score=round(hit.score, 6),
                    similarity=None if hit.similarity is None else round(hit.similarity, 6),
                    text=shown.text,
                    page=shown.page,
                    heading=shown.heading,
                    matched_chunk=chunk.id if shown is not chunk else None,
                )
            )
        return results[:k]

    def _corpus(self, base_id: str, version: int) -> Corpus:
        where = (
            KnowledgeChunk.base_id == base_id,
            KnowledgeChunk.index_version == version,
            KnowledgeChunk.kind == "chunk",
        )
        with self.db.session() as s:
            count = s.scalar(select(func.count()).where(*where)) or 0
            stamp = (self.ingestor.generation.get(base_id, 0), int(count))
            with self._lock:
                cached = self._corpora.get((base_id, version))
            if cached is not None and cached[0] == stamp:
                return cached[1]
            rows = s.execute(
                select(KnowledgeChunk.id, KnowledgeChunk.document_id, KnowledgeChunk.text).where(
                    *where
                )
            )
            corpus = Corpus.build([(r[0], r[1], r[2]) for r in rows])
        with self._lock:
            for key in [k for k in self._corpora if k[0] == base_id]:
                del self._corpora[key]
            self._corpora[(base_id, version)] = (stamp, corpus)
        return corpus

    def for_chat(
        self, bases: Sequence[KnowledgeBase], query: str, top_k: int, rewrite: Rewriter | None
    ) -> list[Passage]:
        """Passages from several bases, interleaved by rank, at most top_k in all."""
        ranked: list[tuple[int, float, Passage]] = []
        for base in bases:
            answer = self.query(base, query, top_k, None, None, rewrite)
            for rank, r in enumerate(answer.results):
                passage = Passage(
                    text=r.text,
                    knowledge_base=base.name,
                    document=r.document,
                    file_name=r.document_name,
                    chunk=r.chunk,
                    score=r.score,
                    similarity=r.similarity,
                    page=r.page,
                    heading=r.heading,
                    config_version=answer.config_version,
                    index_version=answer.index_version,
                    query=answer.query,
                    rewritten=answer.query != query,
                )
                ranked.append((rank, -(r.similarity or 0.0), passage))
        ranked.sort(key=lambda item: (item[0], item[1]))
        return [p for _, _, p in ranked[:top_k]]

    def evaluate(
        self,
        base: KnowledgeBase,
        questions: Path | Sequence[EvalQuestion],
        k: int,
        override: RetrievalOverride | None,
    ) -> EvaluationResult:
        """Recall@k and MRR over questions whose relevant documents are known."""
        items = read_questions(questions) if isinstance(questions, Path) else list(questions)
        with self.db.session() as s:
            rows = s.execute(
                select(KnowledgeDocument.id, KnowledgeDocument.name).where(
                    KnowledgeDocument.base_id == base.id
                )
            ).all()
        by_name: dict[str, set[str]] = {}
        for row in rows:
            by_name.setdefault(row.id, set()).add(row.id)
            by_name.setdefault(row.name, set()).add(row.id)
        unknown = sorted({r for q in items for r in q.relevant if r not in by_name})
        rankings: list[list[str]] = []
        relevant: list[set[str]] = []
        for item in items:
            answer = self.query(base, item.question, k, None, override, None)
            rankings.append(list(dict.fromkeys(r.document for r in answer.results)))
            relevant.append(set().union(*(by_name.get(r, set()) for r in item.relevant)))
        recall, mrr = score(rankings, relevant, k)
        return EvaluationResult(
            knowledge_base=base.name,
            k=k,
            questions=len(items),
            recall_at_k=round(recall, 6),
            mrr=round(mrr, 6),
            config_version=base.config_version,
            index_version=base.index_version,
            unknown_documents=unknown[:100],
        )
