"""Background ingestion and re-indexing, in a bounded thread pool, with progress in the DB.

A document goes queued -> processing -> ready | failed. Parsing runs in a bounded child
process (`rag.parse`); splitting and embedding run here; the write of a document's chunks
and vectors happens under the base's lock and only if the index version it embedded for
is still the one to write (a re-index may have switched it meanwhile: then it redoes).
"""

from __future__ import annotations

import logging
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import delete, select, update

from aiplayground.errors import PlaygroundError
from aiplayground.rag.chunks import Prepared, chunk_rows, prepare
from aiplayground.rag.config import EmbedderFactory
from aiplayground.rag.index import VectorIndex, collection_name
from aiplayground.rag.parse import Parsed, ParseFailed, parse_file
from aiplayground.settings import RagSettings
from aiplayground.storage import ArtifactStore
from aiplayground.store.db import Database
from aiplayground.store.rag_tables import (
    KnowledgeBase,
    KnowledgeBaseConfig,
    KnowledgeChunk,
    KnowledgeDocument,
)

log = logging.getLogger(__name__)

ACTIVE = ("queued", "processing")
MAX_REDO = 3


class Ingestor:
    """Runs document ingestion and re-indexing in background threads."""

    def __init__(
        self,
        db: Database,
        storage: ArtifactStore,
        index: VectorIndex,
        embedder_for: EmbedderFactory,
        settings: RagSettings,
    ) -> None:
        self.db = db
        self.storage = storage
        self.index = index
        self.embedder_for = embedder_for
        self.settings = settings
        self._executor: ThreadPoolExecutor | None = None
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._futures: set[Future[None]] = set()
        self._stopping = threading.Event()
        self.generation: dict[str, int] = {}

    # lifecycle ---------------------------------------------------------------------------

    def recover(self) -> None:
        """Requeue what a stopped server left unfinished: documents and re-indexes."""
        with self.db.session() as s:
            documents = list(
                s.scalars(select(KnowledgeDocument.id).where(KnowledgeDocument.status.in_(ACTIVE)))
            )
            s.execute(
                update(KnowledgeDocument)
                .where(KnowledgeDocument.status == "processing")
                .values(status="queued", progress=0.0)
            )
            bases = list(
                s.scalars(
                    select(KnowledgeBase.id).where(KnowledgeBase.pending_version.is_not(None))
                )
            )
        for document_id in documents:
            self.submit_document(document_id)
        for base_id in bases:
            self.submit_reindex(base_id)

    def close(self) -> None:
        """Stop: queued tasks are dropped and running ones stop at their next batch; both
        are requeued at the next start (their documents stay queued or processing)."""
        self._stopping.set()
        with self._guard:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no task is queued or running; False on timeout."""
        with self._guard:
            pending = set(self._futures)
        _done, not_done = wait(pending, timeout=timeout)
        return not not_done

    def _submit(self, task: Callable[..., None], *args: Any) -> None:
        with self._guard:
            if self._executor is None:
                self._stopping.clear()
                self._executor = ThreadPoolExecutor(
                    max_workers=self.settings.ingestion_workers, thread_name_prefix="rag-ingest"
                )
            future = self._executor.submit(task, *args)
            self._futures.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: Future[None]) -> None:
        with self._guard:
            self._futures.discard(future)

    def lock(self, base_id: str) -> threading.Lock:
        """The lock that serializes writes to one base's index."""
        with self._guard:
            return self._locks.setdefault(base_id, threading.Lock())

    def changed(self, base_id: str) -> None:
        """Note that a base's chunks changed (BM25 caches key on this)."""
        self.generation[base_id] = self.generation.get(base_id, 0) + 1

    def submit_document(self, document_id: str) -> None:
        """Ingest a queued document in the background."""
        self._submit(self._ingest, document_id)

    def submit_reindex(self, base_id: str) -> None:
        """Build the base's pending index version in the background."""
        self._submit(self._reindex, base_id)

    # documents ---------------------------------------------------------------------------

    def _ingest(self, document_id: str) -> None:
        claimed = self._claim(document_id)
        if claimed is None:
            return
        base_id = claimed.base_id
        try:
            self.index_parsed(base_id, document_id, self._parsed(claimed))
        except (ParseFailed, PlaygroundError) as exc:
            self._fail(document_id, exc.message if isinstance(exc, PlaygroundError) else str(exc))
        except _Gone:
            return
        except Exception as exc:  # reported on the document: one bad file stops nothing else
            log.exception("ingestion of document %s failed", document_id)
            self._fail(document_id, f"internal error while ingesting: {type(exc).__name__}")

    def index_parsed(self, base_id: str, document_id: str, parsed: Parsed) -> None:
        """Chunk, embed and write a parsed document into the live index, now (blocking)."""
        for _ in range(MAX_REDO):
            version, config = self._config(base_id, live=True)
            prepared = self._prepare(parsed, version, config, document_id)
            with self.lock(base_id):
                outcome = self._write(base_id, document_id, prepared, live=True)
            if outcome != "redo":
                return
        raise PlaygroundError("the base's configuration kept changing; add the file again")

    def _claim(self, document_id: str) -> KnowledgeDocument | None:
        with self.db.session() as s:
            document = s.get(KnowledgeDocument, document_id)
            if document is None or document.status not in ACTIVE:
                return None
            document.status, document.progress, document.error = "processing", 0.0, ""
            return document

    def _parsed(self, document: KnowledgeDocument) -> Parsed:
        if document.text_key:
            return Parsed.from_json(orjson.loads(self.storage.read_bytes(document.text_key)))
        assert document.key is not None
        with tempfile.TemporaryDirectory(prefix="rag-parse-") as folder:
            path = self.storage.local_path(document.key)
            if path is None:
                path = Path(folder) / "document"
                with self.storage.open(document.key) as source, path.open("wb") as sink:
                    while chunk := source.read(1024 * 1024):
                        sink.write(chunk)
            parsed = parse_file(
                path,
                document.format,
                timeout_s=self.settings.parse_timeout_s,
                memory_bytes=self.settings.parse_memory_bytes,
                max_chars=self.settings.max_document_chars,
            )
        text_key = self.storage.new_key(f"knowledge/{document.base_id}/text")
        self.storage.put_bytes(text_key, orjson.dumps(parsed.to_json()))
        with self.db.session() as s:
            row = s.get(KnowledgeDocument, document.id)
            if row is None:
                self.storage.delete(text_key)
                raise _Gone
            row.text_key, row.pages = text_key, parsed.pages
        return parsed

    def _config(self, base_id: str, *, live: bool) -> tuple[int, dict[str, Any]]:
        with self.db.session() as s:
            base = s.get(KnowledgeBase, base_id)
            version = (
                None if base is None else (base.index_version if live else base.pending_version)
            )
            if base is None or version is None:
                raise _Gone
            config = s.scalar(
                select(KnowledgeBaseConfig.config).where(
                    KnowledgeBaseConfig.base_id == base_id, KnowledgeBaseConfig.version == version
                )
            )
            return version, dict(config or base.config)

    def _prepare(
        self, parsed: Parsed, version: int, config: dict[str, Any], document_id: str | None
    ) -> Prepared:
        def progress(done: int, total: int) -> None:
            if self._stopping.is_set():
                raise _Gone
            if document_id is not None:
                self._progress(document_id, done / max(1, total))

        embedder = self.embedder_for(config)
        batch = self.settings.embedding_batch_size
        return prepare(parsed, version, config, embedder, batch, progress)

    def _write(self, base_id: str, document_id: str, prepared: Prepared, *, live: bool) -> str:
        """Replace the document's chunks at one version; 'redo' when that version moved on."""
        version = prepared.version
        collection = collection_name(base_id, version)
        with self.db.session() as s:
            base = s.get(KnowledgeBase, base_id)
            document = s.get(KnowledgeDocument, document_id)
            if base is None or document is None:
                self.index.delete_document(collection, document_id)
                raise _Gone
            target = base.index_version if live else base.pending_version
            if target != version:
                return "redo"
            self.index.delete_document(collection, document_id)
            s.execute(
                delete(KnowledgeChunk).where(
                    KnowledgeChunk.document_id == document_id,
                    KnowledgeChunk.index_version == version,
                )
            )
            rows = chunk_rows(base_id, document_id, prepared)
            children = [r for r in rows if r.kind == "chunk"]
            self.index.add(
                collection,
                [r.id for r in children],
                prepared.vectors,
                [{"document_id": document_id, "page": r.page} for r in children],
            )
            s.add_all(rows)
            if live:
                document.status, document.progress, document.error = "ready", 1.0, ""
                document.chunks, document.index_version = len(children), version
        self.changed(base_id)
        return "written"

    def _progress(self, document_id: str, fraction: float) -> None:
        with self.db.session() as s:
            s.execute(
                update(KnowledgeDocument)
                .where(KnowledgeDocument.id == document_id)
                .values(progress=round(min(fraction, 1.0) * 0.99, 4))
            )

    def _fail(self, document_id: str, message: str) -> None:
        log.info("document %s failed: %s", document_id, message)
        with self.db.session() as s:
            document = s.get(KnowledgeDocument, document_id)
            if document is not None:
                document.status, document.error, document.progress = "failed", message, 1.0

    # re-indexing -------------------------------------------------------------------------

    def _reindex(self, base_id: str) -> None:
        try:
            version, config = self._config(base_id, live=False)
        except _Gone:
            return
        done: dict[str, int] = {}
        try:
            while True:
                todo = self._ready_documents(base_id, exclude=done)
                if not todo:
                    if self._switch(base_id, version, done):
                        return
                    continue
                for document_id in todo:
                    if self._stopping.is_set():
                        return
                    done[document_id] = self._reindex_document(
                        base_id, document_id, version, config
                    )
                    self._base_progress(base_id, version, len(done), len(done) + len(todo))
        except _Gone:
            return
        except Exception as exc:  # recorded on the base; the live index keeps serving
            log.exception("re-index of knowledge base %s failed", base_id)
            message = exc.message if isinstance(exc, PlaygroundError) else type(exc).__name__
            with self.db.session() as s:
                base = s.get(KnowledgeBase, base_id)
                if base is not None and base.pending_version == version:
                    base.index_error = f"re-index to version {version} failed: {message}"
                    base.pending_version = None

    def _reindex_document(
        self, base_id: str, document_id: str, version: int, config: dict[str, Any]
    ) -> int:
        with self.db.session() as s:
            document = s.get(KnowledgeDocument, document_id)
            if document is None:
                return 0
        try:
            parsed = self._parsed(document)
        except (ParseFailed, PlaygroundError) as exc:
            self._fail(document_id, exc.message if isinstance(exc, PlaygroundError) else str(exc))
            return 0
        prepared = self._prepare(parsed, version, config, None)
        with self.lock(base_id):
            try:
                if self._write(base_id, document_id, prepared, live=False) == "redo":
                    raise _Gone  # a newer configuration took over; its own task goes on
            except _Gone:
                if self._pending(base_id) != version:
                    raise
                return 0
        return len(prepared.children)

    def _pending(self, base_id: str) -> int | None:
        with self.db.session() as s:
            base = s.get(KnowledgeBase, base_id)
            return None if base is None else base.pending_version

    def _ready_documents(self, base_id: str, exclude: dict[str, int]) -> list[str]:
        if self._pending(base_id) is None:
            raise _Gone
        with self.db.session() as s:
            ids = s.scalars(
                select(KnowledgeDocument.id).where(
                    KnowledgeDocument.base_id == base_id, KnowledgeDocument.status == "ready"
                )
            )
            return [i for i in ids if i not in exclude]

    def _switch(self, base_id: str, version: int, done: dict[str, int]) -> bool:
        """Make the pending version live if every ready document is in it."""
        with self.lock(base_id), self.db.session() as s:
            base = s.get(KnowledgeBase, base_id)
            if base is None or base.pending_version != version:
                raise _Gone
            if self._ready_documents(base_id, exclude=done):
                return False
            old = base.index_version
            base.index_version, base.pending_version = version, None
            base.index_progress, base.index_error = 1.0, ""
            for document_id, chunks in done.items():
                s.execute(
                    update(KnowledgeDocument)
                    .where(KnowledgeDocument.id == document_id)
                    .values(chunks=chunks, index_version=version)
                )
            s.execute(
                delete(KnowledgeChunk).where(
                    KnowledgeChunk.base_id == base_id, KnowledgeChunk.index_version != version
                )
            )
        self.index.drop(collection_name(base_id, old))
        self.changed(base_id)
        return True

    def _base_progress(self, base_id: str, version: int, done: int, total: int) -> None:
        with self.db.session() as s:
            s.execute(
                update(KnowledgeBase)
                .where(KnowledgeBase.id == base_id, KnowledgeBase.pending_version == version)
                .values(index_progress=round(done / max(1, total), 4))
            )


class _Gone(Exception):
    """The base or document was deleted or superseded, or the server is stopping: drop the
    task and leave the rows as they are."""
