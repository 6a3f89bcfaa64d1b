"""`KnowledgeBaseService`: knowledge bases and their documents, for REST, UI, CLI and chat."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from aiplayground.auth.principal import Principal, Role
from aiplayground.catalog.endpoints import EndpointService
from aiplayground.catalog.files import IncomingFile
from aiplayground.catalog.schemas import Page
from aiplayground.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from aiplayground.rag import config as cfg
from aiplayground.rag import questions as saved_questions
from aiplayground.rag.bases import base_info, changed_config, plan_reindex
from aiplayground.rag.documents import add_document, document_info
from aiplayground.rag.embedding import EmbeddingModels
from aiplayground.rag.index import VectorIndex, collection_name, open_vector_index
from aiplayground.rag.ingest import Ingestor
from aiplayground.rag.query import Passage, QueryEngine, Rewriter
from aiplayground.rag.schemas import (
    ComparedSettings,
    DocumentInfo,
    EvalQuestion,
    EvaluationResult,
    KnowledgeBaseCreate,
    KnowledgeBaseInfo,
    KnowledgeBaseUpdate,
    QueryFilters,
    QueryResponse,
    RetrievalOverride,
    SavedQuestion,
)
from aiplayground.settings import Settings
from aiplayground.storage import ArtifactStore
from aiplayground.store.db import Database
from aiplayground.store.rag_tables import KnowledgeBase, KnowledgeBaseConfig, KnowledgeDocument

MAX_PAGE = 500


class KnowledgeBaseService:
    """Knowledge bases: configuration, documents, background ingestion, retrieval."""

    def __init__(
        self,
        db: Database,
        storage: ArtifactStore,
        settings: Settings,
        endpoints: EndpointService,
        *,
        index: VectorIndex | None = None,
        models: EmbeddingModels | None = None,
    ) -> None:
        rag = settings.rag
        self.db = db
        self.storage = storage
        self.settings = rag
        self.endpoints = endpoints
        self.index = index or open_vector_index(rag.chroma_url, settings.resolved_home)
        self.models = models or EmbeddingModels(rag.embedding_threads, rag.embedding_batch_size)
        self.embedder_for = cfg.embedder_factory(self.models, endpoints, settings.network.timeout_s)
        self.ingestor = Ingestor(db, storage, self.index, self.embedder_for, rag)
        self.engine = QueryEngine(db, self.index, self.embedder_for, self.ingestor)

    def start(self) -> None:
        """Requeue the ingestion and re-indexing a stopped server left unfinished."""
        self.ingestor.recover()

    def close(self) -> None:
        """Stop the background workers (unfinished work is requeued at the next start)."""
        self.ingestor.close()

    # access ------------------------------------------------------------------------------

    def _load(
        self, s: Session, caller: Principal, name: str, *, change: bool = False
    ) -> KnowledgeBase:
        base = s.scalar(select(KnowledgeBase).where(KnowledgeBase.name == name))
        # Another user's private base is indistinguishable from a missing one.
        if base is None or not caller.can_see(base.owner_id, base.visibility):
            raise NotFound(f"no knowledge base named {name!r}")
        if change:
            caller.require_write()
            if not caller.can_change(base.owner_id):
                raise PermissionDenied(f"only the owner or an admin can change {name!r}")
        return base

    # bases -------------------------------------------------------------------------------

    def create(self, caller: Principal, body: KnowledgeBaseCreate) -> KnowledgeBaseInfo:
        """Create an empty knowledge base."""
        caller.require_write()
        config = cfg.defaults(self.settings)
        if body.embedding is not None:
            config["embedding"] = cfg.embedding_section(
                body.embedding, self.endpoints, caller, None
            )
        if body.chunking is not None:
            config["chunking"] = body.chunking.model_dump()
        if body.retrieval is not None:
            config["retrieval"] = body.retrieval.model_dump(mode="json")
        try:
            with self.db.session() as s:
                if s.scalar(select(KnowledgeBase.id).where(KnowledgeBase.name == body.name)):
                    raise Conflict(f"a knowledge base named {body.name!r} already exists")
                base = KnowledgeBase(
                    name=body.name,
                    owner_id=caller.user_id,
                    title=body.title,
                    description=body.description,
                    visibility=body.visibility.value,
                    config=config,
                )
                s.add(base)
                s.flush()
                s.add(
                    KnowledgeBaseConfig(
                        base_id=base.id, version=1, config=config, created_by=caller.user_id
                    )
                )
                s.flush()
                return base_info(s, base)
        except IntegrityError as exc:
            raise Conflict(f"a knowledge base named {body.name!r} already exists") from exc

    def search(
        self, caller: Principal, *, q: str | None = None, limit: int = 50, offset: int = 0
    ) -> Page[KnowledgeBaseInfo]:
        """The bases the caller can see, newest first."""
        query = select(KnowledgeBase)
        if caller.role is not Role.ADMIN:
            query = query.where(
                or_(KnowledgeBase.visibility == "public", KnowledgeBase.owner_id == caller.user_id)
            )
        if q:
            pattern = f"%{q.strip().lower()}%"
            query = query.where(
                or_(
                    func.lower(KnowledgeBase.name).like(pattern),
                    func.lower(KnowledgeBase.title).like(pattern),
                    func.lower(KnowledgeBase.description).like(pattern),
                )
            )
        with self.db.session() as s:
            total = s.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = s.scalars(
                query.order_by(KnowledgeBase.updated_at.desc(), KnowledgeBase.name)
                .limit(max(1, min(limit, MAX_PAGE)))
                .offset(max(0, offset))
            )
            return Page(items=[base_info(s, b) for b in rows], total=int(total))

    def get(self, caller: Principal, name: str) -> KnowledgeBaseInfo:
        """One knowledge base with its indexing state."""
        with self.db.session() as s:
            return base_info(s, self._load(s, caller, name))

    def update(self, caller: Principal, name: str, body: KnowledgeBaseUpdate) -> KnowledgeBaseInfo:
        """Change a base; a new embedding or chunking re-indexes it in the background."""
        reindex = False
        with self.db.session() as s:
            base = self._load(s, caller, name, change=True)
            for field in ("title", "description"):
                if getattr(body, field) is not None:
                    setattr(base, field, getattr(body, field))
            if body.visibility is not None:
                base.visibility = body.visibility.value
            new = changed_config(self.endpoints, caller, dict(base.config), body)
            if new != base.config:
                base.config_version += 1
                base.config = new
                s.add(
                    KnowledgeBaseConfig(
                        base_id=base.id,
                        version=base.config_version,
                        config=new,
                        created_by=caller.user_id,
                    )
                )
                reindex = plan_reindex(s, base, new)
            s.flush()
            info = base_info(s, base)
        if reindex:
            self.ingestor.submit_reindex(info.id)
        return info

    def delete(self, caller: Principal, name: str) -> None:
        """Delete a base with its documents, chunks, vectors and files."""
        with self.db.session() as s:
            base = self._load(s, caller, name, change=True)
            base_id = base.id
            versions = {v for v in (base.index_version, base.pending_version) if v is not None}
            versions |= set(
                s.scalars(
                    select(KnowledgeBaseConfig.version).where(
                        KnowledgeBaseConfig.base_id == base_id
                    )
                )
            )
            s.delete(base)
        with self.ingestor.lock(base_id):
            for version in versions:
                self.index.drop(collection_name(base_id, version))
        self.storage.delete_prefix(f"knowledge/{base_id}")
        self.ingestor.changed(base_id)

    # documents ---------------------------------------------------------------------------

    def add_documents(
        self, caller: Principal, name: str, files: Sequence[IncomingFile]
    ) -> list[DocumentInfo]:
        """Store files and queue them for ingestion; duplicates and bad files come back marked."""
        results: list[DocumentInfo] = []
        queued: list[str] = []
        with self.db.session() as s:
            base = self._load(s, caller, name, change=True)
            known = {
                d.sha256: d
                for d in s.scalars(
                    select(KnowledgeDocument).where(
                        KnowledgeDocument.base_id == base.id, KnowledgeDocument.status != "failed"
                    )
                )
            }
            for item in files:
                document, duplicate = add_document(
                    s, self.storage, self.settings, base.id, caller, item, known
                )
                if not duplicate and document.status == "queued":
                    queued.append(document.id)
                results.append(document_info(document, duplicate=duplicate))
        for document_id in queued:
            self.ingestor.submit_document(document_id)
        return results

    def list_documents(
        self, caller: Principal, name: str, *, limit: int = 100, offset: int = 0
    ) -> Page[DocumentInfo]:
        """The documents of a base, newest first."""
        with self.db.session() as s:
            base = self._load(s, caller, name)
            query = select(KnowledgeDocument).where(KnowledgeDocument.base_id == base.id)
            total = s.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = s.scalars(
                query.order_by(KnowledgeDocument.created_at.desc(), KnowledgeDocument.name)
                .limit(max(1, min(limit, MAX_PAGE)))
                .offset(max(0, offset))
            )
            return Page(items=[document_info(d) for d in rows], total=int(total))

    def _document(
        self, s: Session, caller: Principal, name: str, document_id: str, *, change: bool = False
    ) -> KnowledgeDocument:
        base = self._load(s, caller, name, change=change)
        document = s.get(KnowledgeDocument, document_id)
        if document is None or document.base_id != base.id:
            raise NotFound(f"knowledge base {name!r} has no document {document_id!r}")
        return document

    def get_document(self, caller: Principal, name: str, document_id: str) -> DocumentInfo:
        """One document and its ingestion state."""
        with self.db.session() as s:
            return document_info(self._document(s, caller, name, document_id))

    def open_document(
        self, caller: Principal, name: str, document_id: str
    ) -> tuple[BinaryIO, DocumentInfo]:
        """The stored file of a document, for download."""
        with self.db.session() as s:
            document = self._document(s, caller, name, document_id)
        if document.key is None:
            raise NotFound(f"document {document_id!r} has no stored file (it was refused)")
        return self.storage.open(document.key), document_info(document)

    def delete_document(self, caller: Principal, name: str, document_id: str) -> None:
        """Delete a document with its chunks, vectors and files."""
        with self.db.session() as s:
            document = self._document(s, caller, name, document_id, change=True)
            base = s.get(KnowledgeBase, document.base_id)
            versions = [base.index_version, base.pending_version] if base is not None else []
            keys = [k for k in (document.key, document.text_key) if k]
            s.delete(document)
        with self.ingestor.lock(document.base_id):
            for version in versions:
                if version is not None:
                    self.index.delete_document(
                        collection_name(document.base_id, version), document_id
                    )
        for key in keys:
            self.storage.delete(key)
        self.ingestor.changed(document.base_id)

    # retrieval ---------------------------------------------------------------------------

    def query(
        self,
        caller: Principal,
        name: str,
        query: str,
        top_k: int | None = None,
        filters: QueryFilters | None = None,
        *,
        retrieval: RetrievalOverride | None = None,
        rewrite: Rewriter | None = None,
    ) -> QueryResponse:
        """The passages of a base that best match a query."""
        with self.db.session() as s:
            base = self._load(s, caller, name)
        return self.engine.query(base, query, top_k, filters, retrieval, rewrite)

    def retrieve_for_chat(
        self,
        caller: Principal,
        names: Sequence[str],
        query: str,
        top_k: int = 4,
        *,
        rewrite: Rewriter | None = None,
    ) -> list[Passage]:
        """Passages from several bases for a chat prompt, each with its citation."""
        with self.db.session() as s:
            bases = [self._load(s, caller, n) for n in dict.fromkeys(names)]
        return self.engine.for_chat(bases, query, top_k, rewrite)

    def evaluate(
        self,
        caller: Principal,
        name: str,
        questions: Path | Sequence[EvalQuestion] | None = None,
        k: int = 5,
        *,
        retrieval: RetrievalOverride | None = None,
    ) -> EvaluationResult:
        """Recall@k and MRR of the base's retrieval on questions (a JSONL file, a list, or
        None for the base's saved questions)."""
        with self.db.session() as s:
            base = self._load(s, caller, name)
            if questions is None:
                questions = self._saved_or_refuse(s, base.id, name)
        return self.engine.evaluate(base, questions, k, retrieval)

    def compare(
        self, caller: Principal, name: str, settings: Sequence[ComparedSettings]
    ) -> list[EvaluationResult]:
        """Recall@k and MRR of each retrieval configuration on the base's saved questions."""
        with self.db.session() as s:
            base = self._load(s, caller, name)
            questions = self._saved_or_refuse(s, base.id, name)
        return [self.engine.evaluate(base, questions, c.k, c.retrieval) for c in settings]

    def _saved_or_refuse(self, s: Session, base_id: str, name: str) -> list[SavedQuestion]:
        found = saved_questions.saved(s, base_id)
        if not found:
            raise ValidationFailed(
                f"knowledge base {name!r} has no saved questions; add some first",
                details={"field": "questions"},
            )
        return found

    # saved questions ---------------------------------------------------------------------

    def list_questions(self, caller: Principal, name: str) -> Page[SavedQuestion]:
        """The evaluation questions saved with a base."""
        with self.db.session() as s:
            items = saved_questions.saved(s, self._load(s, caller, name).id)
        return Page(items=items, total=len(items))

    def add_questions(
        self, caller: Principal, name: str, questions: Sequence[EvalQuestion]
    ) -> list[SavedQuestion]:
        """Save evaluation questions with a base (owner or admin)."""
        with self.db.session() as s:
            base = self._load(s, caller, name, change=True)
            return saved_questions.add(s, base.id, questions, caller.user_id)

    def delete_question(self, caller: Principal, name: str, question_id: str) -> None:
        """Delete one saved question of a base (owner or admin)."""
        with self.db.session() as s:
            base = self._load(s, caller, name, change=True)
            saved_questions.remove(s, base.id, question_id)

    def embed(self, model: str, texts: Sequence[str]) -> tuple[Any, int, str]:
        """Vectors of texts by a packaged model: (vectors, tokens counted, model name)."""
        embedder = self.models.get(model)
        vectors = embedder.embed_documents(texts)
        return vectors, sum(embedder.count_tokens(texts)), embedder.name
