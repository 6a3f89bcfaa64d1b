"""Knowledge-base configurations as stored (API keys sealed) and as shown; which embedder.

A stored configuration is a plain dict with `embedding`, `chunking` and `retrieval`
sections. Changing `embedding` or `chunking` needs a re-index; `retrieval` does not.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError

from aiplayground.auth.principal import Principal
from aiplayground.catalog.endpoints import EndpointService
from aiplayground.errors import ValidationFailed
from aiplayground.rag.embedding import Embedder, EmbeddingModels, RemoteEmbedder
from aiplayground.rag.schemas import (
    ChunkingConfig,
    EmbeddingConfig,
    PublicConfig,
    PublicEmbedding,
    RetrievalConfig,
    RetrievalOverride,
)
from aiplayground.settings import RagSettings

EmbedderFactory = Callable[[dict[str, Any]], Embedder]


def defaults(settings: RagSettings) -> dict[str, Any]:
    """The configuration of a base created without one."""
    return {
        "embedding": {"model": settings.embedding_model, "url": None, "api_key": None},
        "chunking": ChunkingConfig(
            chunk_tokens=settings.chunk_tokens,
            overlap_tokens=min(settings.chunk_overlap, settings.chunk_tokens - 1),
        ).model_dump(),
        "retrieval": RetrievalConfig().model_dump(mode="json"),
    }


def embedding_section(
    given: EmbeddingConfig, endpoints: EndpointService, caller: Principal, sealed: str | None
) -> dict[str, Any]:
    """A stored embedding section: a known packaged model, or a checked URL and sealed key."""
    if given.url is None:
        return {"model": EmbeddingModels.canonical(given.model), "url": None, "api_key": None}
    url = endpoints.validate_url(given.url, caller)
    key = given.api_key.get_secret_value() if given.api_key else None
    return {
        "model": given.model,
        "url": url,
        "api_key": endpoints.seal(key) if key else sealed,
    }


def merged(
    section: str, current: dict[str, Any], changes: dict[str, Any], model: type[BaseModel]
) -> BaseModel:
    """A section's current values with the changes applied, validated."""
    try:
        return model.model_validate({**current, **changes})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValidationFailed(
            f"{section}.{where}: {first['msg']}" if where else f"{section}: {first['msg']}",
            details={"field": section},
        ) from exc


def public(config: dict[str, Any]) -> PublicConfig:
    """A stored configuration as shown to callers (no API key)."""
    embedding = config["embedding"]
    return PublicConfig(
        embedding=PublicEmbedding(
            model=embedding["model"],
            url=embedding.get("url"),
            has_api_key=bool(embedding.get("api_key")),
        ),
        chunking=ChunkingConfig.model_validate(config["chunking"]),
        retrieval=RetrievalConfig.model_validate(config["retrieval"]),
    )


def needs_reindex(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """True when the index built for `old` does not serve `new` (a new API key does)."""

    def indexed(config: dict[str, Any]) -> list[Any]:
        embedding = {k: v for k, v in config.get("embedding", {}).items() if k != "api_key"}
        return [embedding, config.get("chunking")]

    return indexed(old) != indexed(new)


def retrieval(config: dict[str, Any], override: RetrievalOverride | None) -> RetrievalConfig:
    """The retrieval settings of a query: the base's, with the query's overrides."""
    base = RetrievalConfig.model_validate(config["retrieval"])
    if override is None:
        return base
    changes = override.model_dump(exclude_unset=True)
    return RetrievalConfig.model_validate({**base.model_dump(), **changes})


def embedder_factory(
    models: EmbeddingModels, endpoints: EndpointService, timeout: float
) -> EmbedderFactory:
    """Builds the embedder a stored configuration names."""

    def build(config: dict[str, Any]) -> Embedder:
        section = config["embedding"]
        if not section.get("url"):
            return models.get(section["model"])
        sealed = section.get("api_key")
        return RemoteEmbedder(
            section["url"],
            section["model"],
            endpoints.policy,
            api_key=endpoints.unseal(sealed) if sealed else None,
            timeout=timeout,
        )

    return build
