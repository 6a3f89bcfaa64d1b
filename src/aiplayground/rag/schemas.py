"""The knowledge-base vocabulary: configurations, requests and answers (plain data)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from aiplayground.catalog.schemas import Name, Visibility

MAX_QUERY_CHARS = 10_000


class EmbeddingConfig(BaseModel):
    """Which model turns text into vectors: a packaged one, or an OpenAI-compatible server."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(
        "all-minilm-l6-v2",
        min_length=1,
        max_length=200,
        description="A packaged model (all-minilm-l6-v2, multilingual-e5-small), or the "
        "remote server's model name when `url` is set.",
    )
    url: str | None = Field(
        None,
        max_length=2000,
        description="Base URL of an OpenAI-compatible server (https://host/v1); it receives "
        "POST {url}/embeddings.",
    )
    api_key: SecretStr | None = Field(
        None, description="API key of the remote server (stored encrypted, never shown)."
    )


class ChunkingConfig(BaseModel):
    """How documents are cut into passages (sizes in the embedding model's tokens)."""

    model_config = ConfigDict(extra="forbid")

    chunk_tokens: int = Field(256, ge=16, le=2048, description="Size of a matched chunk.")
    overlap_tokens: int = Field(32, ge=0, le=1024, description="Overlap between chunks.")
    parent_tokens: int | None = Field(
        None,
        ge=32,
        le=16384,
        description="Parent-document retrieval: small chunks are matched and their parent "
        "passage of this size is returned. Empty: off.",
    )

    @model_validator(mode="after")
    def _sizes(self) -> Self:
        if self.overlap_tokens >= self.chunk_tokens:
            raise ValueError("overlap_tokens must be smaller than chunk_tokens")
        if self.parent_tokens is not None and self.parent_tokens <= self.chunk_tokens:
            raise ValueError("parent_tokens must be larger than chunk_tokens")
        return self


class RetrievalMode(StrEnum):
    """Dense vectors alone, or dense and BM25 fused by reciprocal rank."""

    DENSE = "dense"
    HYBRID = "hybrid"


class RetrievalConfig(BaseModel):
    """How a query finds passages."""

    model_config = ConfigDict(extra="forbid")

    mode: RetrievalMode = Field(RetrievalMode.DENSE, description="dense or hybrid (+ BM25).")
    top_k: int = Field(4, ge=1, le=100, description="Passages returned by default.")
    score_threshold: float | None = Field(
        None, ge=-1.0, le=1.0, description="Drop passages whose cosine similarity is lower."
    )
    mmr: bool = Field(False, description="Diversify results (maximal marginal relevance).")
    mmr_lambda: float = Field(
        0.5, ge=0.0, le=1.0, description="MMR trade-off: 1 relevance only, 0 diversity only."
    )
    fetch_k: int = Field(
        20, ge=1, le=1000, description="Candidates gathered per retriever before fusion/MMR."
    )
    rrf_k: int = Field(60, ge=1, le=1000, description="Reciprocal-rank-fusion constant.")
    lexical_weight: float = Field(
        1.0,
        ge=0.0,
        le=10.0,
        description="Hybrid: weight of the BM25 ranking in the fusion, scaled down further "
        "when BM25's best hit is not distinctive.",
    )
    query_rewrite: bool = Field(
        False,
        description="Rewrite follow-up questions into standalone ones (when the caller, "
        "such as chat, offers a rewriter).",
    )


class RetrievalOverride(BaseModel):
    """Retrieval settings for one query, over the base's own."""

    model_config = ConfigDict(extra="forbid")

    mode: RetrievalMode | None = None
    score_threshold: float | None = Field(None, ge=-1.0, le=1.0)
    mmr: bool | None = None
    mmr_lambda: float | None = Field(None, ge=0.0, le=1.0)
    fetch_k: int | None = Field(None, ge=1, le=1000)
    lexical_weight: float | None = Field(None, ge=0.0, le=10.0)


class KnowledgeBaseCreate(BaseModel):
    """A new knowledge base; absent sections take the server's defaults."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    title: str = Field("", max_length=200)
    description: str = Field("", max_length=20_000)
    visibility: Visibility = Visibility.PRIVATE
    embedding: EmbeddingConfig | None = None
    chunking: ChunkingConfig | None = None
    retrieval: RetrievalConfig | None = None


class KnowledgeBaseUpdate(BaseModel):
    """A change; a configuration section given here is merged into the current one."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(None, max_length=200)
    description: str | None = Field(None, max_length=20_000)
    visibility: Visibility | None = None
    embedding: dict[str, Any] | None = Field(None, description="Fields of EmbeddingConfig.")
    chunking: dict[str, Any] | None = Field(None, description="Fields of ChunkingConfig.")
    retrieval: dict[str, Any] | None = Field(None, description="Fields of RetrievalConfig.")


class PublicEmbedding(BaseModel):
    """The embedding configuration as shown (the API key stays sealed server-side)."""

    model: str
    url: str | None = None
    has_api_key: bool = False


class PublicConfig(BaseModel):
    """A configuration version as shown to callers."""

    embedding: PublicEmbedding
    chunking: ChunkingConfig
    retrieval: RetrievalConfig


class DocumentCounts(BaseModel):
    """How many documents are in each state."""

    queued: int = 0
    processing: int = 0
    ready: int = 0
    failed: int = 0


class KnowledgeBaseInfo(BaseModel):
    """A knowledge base with its configuration and indexing state."""

    id: str
    name: str
    owner: str
    title: str
    description: str
    visibility: Visibility
    config: PublicConfig
    config_version: int
    index_version: int
    status: str = Field(description="ready, indexing (documents or a re-index in progress).")
    progress: float = Field(description="0..1 over queued documents and any re-index.")
    reindexing_to: int | None = None
    error: str = ""
    documents: DocumentCounts
    chunks: int
    created_at: datetime
    updated_at: datetime


class DocumentInfo(BaseModel):
    """A document of a knowledge base and its ingestion state."""

    id: str
    name: str
    format: str
    size: int
    sha256: str
    status: str = Field(description="queued, processing, ready or failed.")
    error: str = ""
    progress: float = 0.0
    pages: int | None = None
    chunks: int = 0
    index_version: int | None = None
    duplicate: bool = Field(False, description="True when this upload matched this document.")
    created_at: datetime
    updated_at: datetime


class QueryFilters(BaseModel):
    """Restrict a query to some documents (ids or file names)."""

    model_config = ConfigDict(extra="forbid")

    documents: list[str] | None = Field(None, max_length=1000)


class QueryRequest(BaseModel):
    """A retrieval query."""

    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    top_k: int | None = Field(None, ge=1, le=100)
    filters: QueryFilters | None = None
    retrieval: RetrievalOverride | None = None


class QueryResult(BaseModel):
    """One retrieved passage with where it came from."""

    document: str = Field(description="Document id.")
    document_name: str
    chunk: str = Field(description="Id of the passage returned (the parent, if any).")
    score: float = Field(description="Ranking score: similarity (dense) or fused RRF (hybrid).")
    similarity: float | None = Field(None, description="Cosine similarity to the query.")
    text: str
    page: int | None = None
    heading: str = ""
    matched_chunk: str | None = Field(None, description="The small chunk matched (parents).")


class QueryResponse(BaseModel):
    """What a query found, and which configuration found it."""

    results: list[QueryResult]
    query: str = Field(description="The query searched (after any rewriting).")
    knowledge_base: str
    config_version: int
    index_version: int


class EvalQuestion(BaseModel):
    """A question and the documents (ids or file names) that answer it."""

    model_config = ConfigDict(extra="ignore")

    question: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    relevant: list[str] = Field(min_length=1, max_length=1000)


class EvaluateRequest(BaseModel):
    """Questions to score retrieval on."""

    model_config = ConfigDict(extra="forbid")

    questions: list[EvalQuestion] | None = Field(
        None,
        min_length=1,
        max_length=10_000,
        description="Questions with their relevant documents; absent: the base's saved ones.",
    )
    k: int = Field(5, ge=1, le=100)
    retrieval: RetrievalOverride | None = None


class EvaluationResult(BaseModel):
    """Recall@k and mean reciprocal rank of a base's retrieval on a question set."""

    knowledge_base: str
    k: int
    questions: int
    recall_at_k: float
    mrr: float
    config_version: int
    index_version: int
    unknown_documents: list[str] = Field(
        default_factory=list, description="Relevant names that match no document."
    )


class SavedQuestion(EvalQuestion):
    """An evaluation question saved with a base."""

    id: str
    created_at: datetime


class QuestionsAdd(BaseModel):
    """Questions to save with a base (the same objects as `kb eval`'s JSONL lines)."""

    model_config = ConfigDict(extra="forbid")

    questions: list[EvalQuestion] = Field(min_length=1, max_length=1000)


class ComparedSettings(BaseModel):
    """One retrieval configuration to score on a base's saved questions."""

    model_config = ConfigDict(extra="forbid")

    k: int = Field(5, ge=1, le=100, description="Cut-off of recall@k (passages retrieved).")
    retrieval: RetrievalOverride = Field(default_factory=RetrievalOverride)


class CompareRequest(BaseModel):
    """Retrieval configurations to score side by side on a base's saved questions."""

    model_config = ConfigDict(extra="forbid")

    configurations: list[ComparedSettings] = Field(min_length=1, max_length=8)
