"""The `VectorIndex` interface and its Chroma backend (embedded or client/server by URL).

One collection per knowledge base and index version: a re-index fills a new collection
while queries keep using the live one, then the old one is dropped.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

import numpy as np

from aiplayground.errors import InvalidInput, Unavailable, require_extra
from aiplayground.rag.embedding import Vectors


@dataclass
class Hit:
    """A vector found by a query: its id, cosine similarity, metadata and maybe vector."""

    id: str
    score: float
    metadata: dict[str, Any] = field(default_factory=dict)
    vector: Vectors | None = None


@runtime_checkable
class VectorIndex(Protocol):
    """Named collections of unit vectors with metadata, searched by cosine similarity."""

    def add(
        self,
        collection: str,
        ids: Sequence[str],
        vectors: Vectors,
        metadatas: Sequence[dict[str, Any]],
    ) -> None:
        """Add (or replace) vectors."""
        ...

    def query(
        self,
        collection: str,
        vector: Vectors,
        k: int,
        *,
        documents: Sequence[str] | None = None,
        with_vectors: bool = False,
    ) -> list[Hit]:
        """The k nearest vectors, optionally only those of some documents."""
        ...

    def vectors(self, collection: str, ids: Sequence[str]) -> dict[str, Vectors]:
        """Stored vectors by id (missing ids are left out)."""
        ...

    def delete_document(self, collection: str, document_id: str) -> None:
        """Remove every vector of one document."""
        ...

    def drop(self, collection: str) -> None:
        """Remove a whole collection (a missing one is not an error)."""
        ...

    def count(self, collection: str) -> int:
        """How many vectors a collection holds (0 when it does not exist)."""
        ...

    def check(self) -> None:
        """Raise Unavailable when the index cannot be reached."""
        ...


def collection_name(base_id: str, version: int) -> str:
    """The collection of one knowledge base at one index version."""
    return f"kb-{base_id}-v{version}"


class ChromaIndex:
    """Chroma: a persistent local folder, or a Chroma server (`chroma run`) by URL."""

    def __init__(self, *, path: Path | None = None, url: str | None = None) -> None:
        if (path is None) == (url is None):
            raise InvalidInput("a Chroma index needs either a folder or a server URL")
        self.path = path
        self.url = url
        self._client: Any = None
        self._lock = threading.Lock()
        self._handles: dict[str, Any] = {}

    def _connect(self) -> Any:
        with self._lock:
            if self._client is None:
                chromadb = require_extra("chromadb", "rag")
                config = require_extra("chromadb.config", "rag")
                # Telemetry would phone home; this platform makes no outbound calls of its own.
                settings = config.Settings(anonymized_telemetry=False, allow_reset=False)
                if self.url is not None:
                    parts = urlsplit(self.url)
                    if parts.scheme not in ("http", "https") or not parts.hostname:
                        raise InvalidInput("rag.chroma_url looks like http://host:8000")
                    self._client = chromadb.HttpClient(
                        host=parts.hostname,
                        port=parts.port or (443 if parts.scheme == "https" else 8000),
                        ssl=parts.scheme == "https",
                        settings=settings,
                    )
                else:
                    assert self.path is not None
                    self.path.mkdir(parents=True, exist_ok=True)
                    self._client = chromadb.PersistentClient(path=str(self.path), settings=settings)
            return self._client

    def _collection(self, name: str, *, create: bool = False) -> Any:
        # Handles are cached: looking one up costs a round trip (milliseconds) per query.
        cached = self._handles.get(name)
        if cached is not None:
            return cached
        client = self._connect()
        errors = require_extra("chromadb.errors", "rag")
        try:
            if create:
                # No embedding function: vectors always come from our own embedders, and
                # Chroma's default one would download a model.
                handle = client.get_or_create_collection(
                    name, embedding_function=None, metadata={"hnsw:space": "cosine"}
                )
            else:
                handle = client.get_collection(name, embedding_function=None)
        except errors.NotFoundError:
            return None
        except errors.ChromaError as exc:
            raise Unavailable(f"the vector index failed: {exc}") from exc
        self._handles[name] = handle
        return handle

    def _gone(self, name: str, exc: Exception) -> bool:
        """True (and the handle forgotten) when exc says the collection was dropped."""
        errors = require_extra("chromadb.errors", "rag")
        if isinstance(exc, errors.NotFoundError):
            self._handles.pop(name, None)
            return True
        return False

    def add(
        self,
        collection: str,
        ids: Sequence[str],
        vectors: Vectors,
        metadatas: Sequence[dict[str, Any]],
    ) -> None:
        """Add (or replace) vectors."""
        if not ids:
            return
        clean = [{k: v for k, v in m.items() if v is not None} for m in metadatas]
        # Chroma bounds one write; large documents go in slices.
        step = 4096
        for start in range(0, len(ids), step):
            for attempt in (1, 2):
                target = self._collection(collection, create=True)
                try:
                    target.upsert(
                        ids=list(ids[start : start + step]),
                        embeddings=np.asarray(vectors[start : start + step], dtype=np.float32),
                        metadatas=clean[start : start + step],
                    )
                    break
                except Exception as exc:
                    if attempt == 2 or not self._gone(collection, exc):
                        raise

    def query(
        self,
        collection: str,
        vector: Vectors,
        k: int,
        *,
        documents: Sequence[str] | None = None,
        with_vectors: bool = False,
    ) -> list[Hit]:
        """The k nearest vectors, optionally only those of some documents."""
        target = self._collection(collection)
        if target is None or k <= 0:
            return []
        include = ["distances", "metadatas"] + (["embeddings"] if with_vectors else [])
        where = None
        if documents is not None:
            if not documents:
                return []
            where = {"document_id": {"$in": list(documents)}}
        try:
            answer = target.query(
                query_embeddings=np.asarray(vector, dtype=np.float32).reshape(1, -1),
                n_results=k,
                where=where,
                include=include,
            )
        except Exception as exc:
            if self._gone(collection, exc):  # dropped by another process meanwhile
                return []
            raise
        ids = answer["ids"][0]
        distances = answer["distances"][0]
        metas = answer["metadatas"][0]
        embeddings = answer["embeddings"][0] if with_vectors else [None] * len(ids)
        return [
            Hit(
                id=i,
                score=1.0 - float(d),
                metadata=dict(m or {}),
                vector=None if e is None else np.asarray(e, dtype=np.float32),
            )
            for i, d, m, e in zip(ids, distances, metas, embeddings, strict=True)
        ]

    def vectors(self, collection: str, ids: Sequence[str]) -> dict[str, Vectors]:
        """Stored vectors by id."""
        target = self._collection(collection)
        if target is None or not ids:
            return {}
        try:
            found = target.get(ids=list(ids), include=["embeddings"])
        except Exception as exc:
            if self._gone(collection, exc):
                return {}
            raise
        return {
            i: np.asarray(e, dtype=np.float32)
            for i, e in zip(found["ids"], found["embeddings"], strict=True)
        }

    def delete_document(self, collection: str, document_id: str) -> None:
        """Remove every vector of one document."""
        target = self._collection(collection)
        if target is None:
            return
        try:
            target.delete(where={"document_id": document_id})
        except Exception as exc:
            if not self._gone(collection, exc):
                raise

    def drop(self, collection: str) -> None:
        """Remove a whole collection."""
        client = self._connect()
        errors = require_extra("chromadb.errors", "rag")
        self._handles.pop(collection, None)
        with contextlib.suppress(errors.NotFoundError):
            client.delete_collection(collection)

    def count(self, collection: str) -> int:
        """How many vectors a collection holds."""
        target = self._collection(collection)
        if target is None:
            return 0
        try:
            return int(target.count())
        except Exception as exc:
            if self._gone(collection, exc):
                return 0
            raise

    def check(self) -> None:
        """Raise Unavailable when the index cannot be reached."""
        try:
            self._connect().heartbeat()
        except Exception as exc:  # any client failure means "not reachable" here
            raise Unavailable(f"the vector index is not reachable: {exc}") from exc


def open_vector_index(chroma_url: str | None, home: Path) -> VectorIndex:
    """The index the settings name: a Chroma server by URL, else Chroma in $AIP_HOME/chroma."""
    if chroma_url:
        return ChromaIndex(url=chroma_url)
    return ChromaIndex(path=home / "chroma")
