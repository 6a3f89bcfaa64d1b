"""Files added to a knowledge base: labels, hashes, refusals, storage, and their info."""

from __future__ import annotations

import hashlib
from pathlib import Path

from sqlalchemy.orm import Session

from aiplayground.auth.principal import Principal
from aiplayground.catalog.files import IncomingFile, safe_relative_path
from aiplayground.rag.loaders import FORMATS, detect_format
from aiplayground.rag.schemas import DocumentInfo
from aiplayground.settings import RagSettings
from aiplayground.storage import ArtifactStore
from aiplayground.store.rag_tables import KnowledgeDocument


def add_document(
    s: Session,
    storage: ArtifactStore,
    settings: RagSettings,
    base_id: str,
    caller: Principal,
    item: IncomingFile,
    known: dict[str, KnowledgeDocument],
) -> tuple[KnowledgeDocument, bool]:
    """A new document row (queued, or failed with a reason), or the known duplicate."""
    label = safe_relative_path(item.name)
    size = item.path.stat().st_size
    digest = sha256(item.path)
    if digest in known:
        return known[digest], True
    document = KnowledgeDocument(
        base_id=base_id, name=label, size=size, sha256=digest, created_by=caller.user_id
    )
    fmt = detect_format(label)
    if fmt is None:
        document.status = "failed"
        document.error = f"unsupported file type; supported: {', '.join(sorted(FORMATS))}"
    elif size > settings.max_document_bytes:
        document.status = "failed"
        document.error = (
            f"the file has {size} bytes; the limit is {settings.max_document_bytes} "
            "(rag.max_document_bytes)"
        )
    else:
        document.format = fmt
        key = storage.new_key(f"knowledge/{base_id}/documents")
        with item.path.open("rb") as stream:
            storage.put_stream(key, stream, max_bytes=settings.max_document_bytes)
        document.key = key
        known[digest] = document
    document.progress = 1.0 if document.status == "failed" else 0.0
    s.add(document)
    s.flush()
    return document, False


def sha256(path: Path) -> str:
    """The SHA-256 of a file, hex."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def document_info(document: KnowledgeDocument, *, duplicate: bool = False) -> DocumentInfo:
    """A document as shown to callers."""
    return DocumentInfo(
        id=document.id,
        name=document.name,
        format=document.format,
        size=document.size,
        sha256=document.sha256,
        status=document.status,
        error=document.error,
        progress=document.progress,
        pages=document.pages,
        chunks=document.chunks,
        index_version=document.index_version,
        duplicate=duplicate,
        created_at=document.created_at,
        updated_at=document.updated_at,
    )
