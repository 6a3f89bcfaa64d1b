"""Typed settings, read once at start from `AIP_*` variables and an optional TOML file.

Nested sections use a double underscore: `AIP_STORAGE__S3_ENDPOINT_URL`. The flat
`AIP_DATABASE_URL` and `AIP_STORAGE_URL` are the documented short forms.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, BaseModel, Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from aiplayground.inference.config import InferenceSettings


class ServerSettings(BaseModel):
    """How the web server listens and who it trusts."""

    host: str = Field("127.0.0.1", description="Address the server binds to.")
    port: int = Field(8000, description="TCP port the server listens on.")
    public_url: str | None = Field(
        None,
        description="URL users reach the server at; used in one-time login links. "
        "Defaults to http://HOST:PORT.",
    )
    secure_cookies: bool = Field(
        False, description="Mark session cookies Secure (set true behind HTTPS)."
    )
    session_hours: float = Field(12.0, description="Lifetime of a UI login session, in hours.")
    token_cache_s: float = Field(
        2.0,
        description="Seconds a checked API token is trusted without asking the database "
        "(revocation in this process is immediate; other processes see it within this).",
    )
    ui: bool = Field(True, description="Serve the web UI at / (false: API-only server).")


class StorageSettings(BaseModel):
    """Where artifacts (models, datasets, documents) live."""

    url: str | None = Field(
        None,
        description="Artifact store URL: file:///path or s3://bucket/prefix. "
        "Defaults to file://$AIP_HOME/artifacts.",
    )
    s3_endpoint_url: str | None = Field(
        None, description="S3-compatible endpoint (MinIO, Ceph); empty for AWS."
    )
    s3_access_key_id: str | None = Field(None, description="S3 access key id.")
    s3_secret_access_key: SecretStr | None = Field(None, description="S3 secret access key.")
    s3_region: str | None = Field(None, description="S3 region name.")


class LimitSettings(BaseModel):
    """Bounds on what one request may make the server do."""

    max_upload_bytes: int = Field(
        2 * 1024**3, description="Largest single uploaded file, in bytes (413 beyond)."
    )
    max_request_bytes: int = Field(
        4 * 1024**3, description="Largest request body, in bytes (413 beyond)."
    )
    max_json_bytes: int = Field(
        64 * 1024**2, description="Largest JSON request body, in bytes (413 beyond)."
    )
    max_multipart_fields: int = Field(
        1000, description="Most parts in one multipart request (400 beyond)."
    )
    max_archive_members: int = Field(
        10_000, description="Most members in an uploaded archive (413 beyond)."
    )
    max_archive_bytes: int = Field(
        8 * 1024**3, description="Largest total uncompressed size of an archive (413 beyond)."
    )


class NetworkSettings(BaseModel):
    """Outbound connections to user-given URLs (remote endpoints, imports)."""

    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Hosts, IPs or CIDRs that user-given URLs may reach although they are "
        'loopback or private (JSON list, e.g. ["10.0.0.0/8", "models.internal"]).',
    )
    timeout_s: float = Field(30.0, description="Timeout of calls to remote endpoints, seconds.")


class ChatSettings(BaseModel):
    """Chat and OpenAI-compatible serving: model workers, memory and per-user limits."""

    threads: int | None = Field(
        None,
        ge=1,
        description="CPU threads per embedded LLM worker (llama.cpp n_threads); "
        "empty: the number of cores, at most 8.",
    )
    context_tokens: int = Field(
        4096,
        ge=256,
        description="Context window given to an embedded model, in tokens (capped by what the "
        "model was trained on; a model's serving.context_window overrides it).",
    )
    default_max_new_tokens: int = Field(
        512, ge=1, description="Tokens generated when neither request nor model says."
    )
    memory_messages: int = Field(
        6, ge=0, description="Past messages a conversation sends to the model (its memory)."
    )
    max_loaded_models: int = Field(
        2, ge=1, description="Embedded LLMs kept loaded at once (least recently used unloads)."
    )
    idle_unload_s: float = Field(
        900.0, gt=0, description="Seconds an unused embedded LLM stays loaded."
    )
    load_timeout_s: float = Field(
        120.0, gt=0, description="Seconds an LLM worker may take to load its model."
    )
    requests_per_minute: float = Field(
        120.0, gt=0, description="Generation requests per user per minute (token bucket refill)."
    )
    burst: int = Field(
        30, ge=1, description="Generation requests a user may send at once (token bucket size)."
    )
    max_streams_per_user: int = Field(
        8, ge=1, description="Generations one user may have running at once (429 beyond)."
    )
    max_streams: int = Field(
        64, ge=1, description="Generations running at once on this server (429 beyond)."
    )
    max_queue_per_model: int = Field(
        32, ge=1, description="Requests waiting for one embedded model (429 beyond)."
    )
    max_prompt_chars: int = Field(
        400_000, ge=1000, description="Largest prompt, in characters, before tokenizing (400)."
    )


class TrainingSettings(BaseModel):
    """Training jobs: the queue, workers, retries and per-user limits."""

    poll_interval_s: float = Field(
        0.5, gt=0, description="Seconds an idle worker waits between looks at the queue."
    )
    heartbeat_interval_s: float = Field(
        2.0, gt=0, description="Seconds between a worker's heartbeats on its running jobs."
    )
    heartbeat_timeout_s: float = Field(
        30.0,
        gt=0,
        description="Seconds without a heartbeat after which a running job's worker is "
        "presumed dead and the job is retried or failed.",
    )
    max_attempts: int = Field(
        3, ge=1, description="Times a job is started before a lost worker fails it for good."
    )
    max_concurrent_per_user: int = Field(
        2, ge=1, description="Jobs one user may have running at once (more wait in the queue)."
    )
    max_queued_per_user: int = Field(
        100, ge=1, description="Jobs one user may have queued or running (429 beyond)."
    )
    default_time_limit_s: float = Field(
        6 * 3600.0, gt=0, description="Time limit of a job that does not ask for one, seconds."
    )
    max_time_limit_s: float = Field(
        7 * 24 * 3600.0, gt=0, description="Longest time limit a job may ask for, seconds."
    )
    max_processes: int = Field(
        8, ge=1, description="Most processes (torchrun ranks) one job may ask for."
    )
    slots: int = Field(1, ge=1, description="Jobs one worker process runs at the same time.")
    cancel_grace_s: float = Field(
        3.0,
        gt=0,
        description="Seconds a cancelled or timed-out job gets after SIGTERM before SIGKILL.",
    )
    max_log_bytes: int = Field(
        16 * 1024**2, ge=1024, description="Log kept per job, in bytes (later output is dropped)."
    )
    extra_recipes: list[str] = Field(
        default_factory=list,
        description="Import paths of modules with site-specific recipes, offered beside the "
        'built-in ones (JSON list, e.g. ["mysite.recipes.cnn"]).',
    )


class RagSettings(BaseModel):
    """Knowledge bases: the vector index, embedding defaults, chunking and ingestion bounds."""

    chroma_url: str | None = Field(
        None,
        description="Chroma server URL (http://host:8000) for client/server mode; empty: an "
        "embedded, persistent Chroma under $AIP_HOME/chroma.",
    )
    embedding_model: str = Field(
        "all-minilm-l6-v2",
        description="Embedding model of new knowledge bases: all-minilm-l6-v2 (English) or "
        "multilingual-e5-small.",
    )
    embedding_threads: int = Field(
        2, ge=1, description="CPU threads of one embedding model (onnxruntime intra-op threads)."
    )
    embedding_batch_size: int = Field(
        32, ge=1, le=1024, description="Chunks embedded per model call during ingestion."
    )
    chunk_tokens: int = Field(
        256, ge=16, le=8192, description="Default chunk size of new knowledge bases, in tokens."
    )
    chunk_overlap: int = Field(
        32, ge=0, le=4096, description="Default overlap between chunks, in tokens."
    )
    ingestion_workers: int = Field(
        2, ge=1, le=64, description="Documents ingested at once, in background threads."
    )
    parse_timeout_s: float = Field(
        60.0, gt=0, description="Seconds one file may take to parse (its parser is killed then)."
    )
    parse_memory_bytes: int = Field(
        1024**3,
        ge=64 * 1024**2,
        description="Address space a file's parser process may use, in bytes (RLIMIT_AS).",
    )
    max_document_bytes: int = Field(
        100 * 1024**2, ge=1, description="Largest document a knowledge base accepts, in bytes."
    )
    max_document_chars: int = Field(
        20_000_000, ge=1000, description="Most characters of text kept from one document."
    )
    max_embedding_inputs: int = Field(
        2048, ge=1, description="Most inputs in one /openai/v1/embeddings request (400 beyond)."
    )


class Settings(BaseSettings):
    """The root of every setting; built once in the composition root and passed down."""

    model_config = SettingsConfigDict(
        env_prefix="AIP_",
        env_nested_delimiter="__",
        extra="ignore",
    )

    home: Path = Field(
        Path(".aiplayground"),
        description="Data folder: database, artifacts, indexes and logs live here.",
    )
    database_url: str | None = Field(
        None,
        validation_alias=AliasChoices("AIP_DATABASE_URL", "database_url"),
        description="Metadata database: sqlite:///path or postgresql://user@host:5432/db. "
        "Defaults to SQLite at $AIP_HOME/aiplayground.db.",
    )
    storage_url: str | None = Field(
        None,
        validation_alias=AliasChoices("AIP_STORAGE_URL", "storage_url"),
        description="Short form of storage.url.",
    )
    log_level: str = Field("INFO", description="Log level: DEBUG, INFO, WARNING, ERROR.")
    log_json: bool = Field(True, description="Write logs as one JSON object per line.")
    demo: bool = Field(True, description="Load the demo catalog entries at first start.")
    server: ServerSettings = Field(default_factory=ServerSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    network: NetworkSettings = Field(default_factory=NetworkSettings)
    inference: InferenceSettings = Field(default_factory=InferenceSettings)
    chat: ChatSettings = Field(default_factory=ChatSettings)
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    rag: RagSettings = Field(default_factory=RagSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_file = os.environ.get("AIP_CONFIG")
        if toml_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)

    @property
    def resolved_home(self) -> Path:
        """The data folder as an absolute path."""
        return self.home.expanduser().resolve()

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to SQLite in the data folder."""
        return self.database_url or f"sqlite:///{self.resolved_home / 'aiplayground.db'}"

    @property
    def resolved_storage_url(self) -> str:
        """The artifact store URL, defaulting to a folder in the data folder."""
        url = self.storage_url or self.storage.url
        return url or (self.resolved_home / "artifacts").as_uri()

    @property
    def public_url(self) -> str:
        """Where users reach this server."""
        return self.server.public_url or f"http://{self.server.host}:{self.server.port}"


def load_settings(**overrides: Any) -> Settings:
    """Build the settings from the environment, the TOML file and explicit overrides."""
    return Settings(**overrides)
