"""Knowledge-base rows as shown to callers, and how a configuration change is applied."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aiplayground.auth.principal import Principal
from aiplayground.catalog.endpoints import EndpointService
from aiplayground.rag import config as cfg
from aiplayground.rag.schemas import (
    ChunkingConfig,
    DocumentCounts,
    EmbeddingConfig,
    KnowledgeBaseInfo,
    KnowledgeBaseUpdate,
    RetrievalConfig,
)
from aiplayground.store.rag_tables import KnowledgeBase, KnowledgeBaseConfig, KnowledgeDocument
from aiplayground.store.tables import User


def base_info(s: Session, base: KnowledgeBase) -> KnowledgeBaseInfo:
    """A base with its configuration, document counts and indexing progress."""
    rows = s.execute(
        select(KnowledgeDocument.status, func.count(), func.sum(KnowledgeDocument.chunks))
        .where(KnowledgeDocument.base_id == base.id)
        .group_by(KnowledgeDocument.status)
    ).all()
    counts = {status: int(n) for status, n, _ in rows}
    chunks = sum(int(c or 0) for status, _, c in rows if status == "ready")
    documents = DocumentCounts(
        **{k: v for k, v in counts.items() if k in DocumentCounts.model_fields}
    )
    total, active = sum(counts.values()), documents.queued + documents.processing
    busy = bool(active or base.pending_version)
    progress = 1.0 if not total else (total - active) / total
    if base.pending_version:
        progress = min(progress, base.index_progress)
    owner = s.scalar(select(User.name).where(User.id == base.owner_id)) or "?"
    return KnowledgeBaseInfo(
        id=base.id,
        name=base.name,
        owner=owner,
        title=base.title,
        description=base.description,
        visibility=base.visibility,
        config=cfg.public(base.config),
        config_version=base.config_version,
        index_version=base.index_version,
        status="indexing" if busy else "ready",
        progress=round(progress, 4),
        reindexing_to=base.pending_version,
        error=base.index_error,
        documents=documents,
        chunks=chunks,
        created_at=base.created_at,
        updated_at=base.updated_at,
    )


def changed_config(
    endpoints: EndpointService,
    caller: Principal,
    current: dict[str, Any],
    body: KnowledgeBaseUpdate,
) -> dict[str, Any]:
    """The configuration after an update: given sections merged into the current ones."""
    new = dict(current)
    if body.embedding is not None:
        shown = {k: v for k, v in current["embedding"].items() if k != "api_key"}
        given = cfg.merged("embedding", shown, body.embedding, EmbeddingConfig)
        assert isinstance(given, EmbeddingConfig)
        same_url = given.url is not None and given.url == current["embedding"].get("url")
        sealed = current["embedding"].get("api_key") if same_url else None
        new["embedding"] = cfg.embedding_section(given, endpoints, caller, sealed)
    for section, model in (("chunking", ChunkingConfig), ("retrieval", RetrievalConfig)):
        changes = getattr(body, section)
        if changes is not None:
            new[section] = cfg.merged(section, current[section], changes, model).model_dump(
                mode="json"
            )
    return new


def plan_reindex(s: Session, base: KnowledgeBase, new: dict[str, Any]) -> bool:
    """Point the base's pending version at a re-index when `new` needs one; True if so."""
    live = config_at(s, base.id, base.index_version)
    if not cfg.needs_reindex(live, new):
        base.pending_version, base.index_progress = None, 1.0
        return False
    if base.pending_version is not None:
        pending = config_at(s, base.id, base.pending_version)
        if not cfg.needs_reindex(pending, new):
            return False
    base.pending_version, base.index_progress, base.index_error = base.config_version, 0.0, ""
    return True


def config_at(s: Session, base_id: str, version: int) -> dict[str, Any]:
    """The stored configuration of one version of a base."""
    found = s.scalar(
        select(KnowledgeBaseConfig.config).where(
            KnowledgeBaseConfig.base_id == base_id, KnowledgeBaseConfig.version == version
        )
    )
    return dict(found or {})
