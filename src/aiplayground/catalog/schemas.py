"""The catalog's vocabulary: what callers send and get back (plain data, no ORM objects)."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,127}$"
_NAME = re.compile(NAME_PATTERN)
ALIAS_PATTERN = r"^[a-z][a-z0-9_-]{0,63}$"
TAG_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._+/-]{0,47}$")
MAX_TAGS = 32


class Objective(StrEnum):
    """What a model is for."""

    CLASSIFICATION = "classification"
    REGRESSION = "regression"
    TEXT_GENERATION = "text-generation"
    EMBEDDINGS = "embeddings"
    OTHER = "other"


class ModelFormat(StrEnum):
    """How a model's files are laid out and loaded."""

    SKLEARN = "sklearn"
    XGBOOST = "xgboost"
    LIGHTGBM = "lightgbm"
    ONNX = "onnx"
    PYTORCH = "pytorch"
    KERAS = "keras"
    HUGGINGFACE = "huggingface"
    GGUF = "gguf"
    REMOTE = "remote"


class DatasetFormat(StrEnum):
    """How a dataset's files are laid out."""

    CSV = "csv"
    PARQUET = "parquet"
    ROOT = "root"
    JSON = "json"
    DOCUMENTS = "documents"


class Visibility(StrEnum):
    """Who may see an entry."""

    PRIVATE = "private"
    PUBLIC = "public"


class Protocol(StrEnum):
    """The wire protocol of a remote endpoint."""

    KSERVE_V1 = "kserve-v1"
    KSERVE_V2 = "kserve-v2"
    OPENAI = "openai"


def check_name(value: str) -> str:
    """A platform-wide, URL-safe name (it appears in KServe and OpenAI routes)."""
    if not _NAME.match(value):
        raise ValueError(
            "names are 1-128 characters of a-z, 0-9, '.', '_', '-', starting with a letter or digit"
        )
    return value


def check_tags(tags: list[str]) -> list[str]:
    """Tags: short, printable, at most MAX_TAGS, duplicates dropped."""
    if len(tags) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} tags")
    for tag in tags:
        if not TAG_PATTERN.match(tag):
            raise ValueError(f"invalid tag {tag!r}: 1-48 letters, digits, space, . _ + / -")
    return list(dict.fromkeys(tags))


Name = Annotated[str, AfterValidator(check_name)]
Tags = Annotated[list[str], AfterValidator(check_tags)]


class TensorSpec(BaseModel):
    """One named input or output of a model (Open Inference Protocol metadata)."""

    name: str = Field(min_length=1, max_length=128)
    datatype: str = Field(
        pattern=r"^(BOOL|UINT8|UINT16|UINT32|UINT64|INT8|INT16|INT32|INT64|FP16|FP32|FP64|BYTES)$"
    )
    shape: list[int] = Field(description="-1 for a variable dimension (the batch, usually).")


class Signature(BaseModel):
    """The inputs and outputs of a model version, used to validate and prefill requests."""

    inputs: list[TensorSpec] = Field(default_factory=list, max_length=256)
    outputs: list[TensorSpec] = Field(default_factory=list, max_length=256)


class FileEntry(BaseModel):
    """One stored file of a version: its path inside the version and its artifact key.

    A remote file (`url` set) is read from its URL; its key names no artifact.
    """

    path: str
    key: str
    size: int
    sha256: str
    url: str | None = None

    @property
    def content_id(self) -> str:
        """What identifies the content, for caches: its sha256, or a remote file's URL and size."""
        return self.sha256 or f"{self.url}#{self.size}"


class PublicFile(BaseModel):
    """A file as shown to callers (the storage key stays server-side)."""

    path: str
    size: int
    sha256: str = Field(description="Empty for a remote file (it is not copied here).")
    url: str | None = Field(None, description="Where a remote file is read from.")


class Lineage(BaseModel):
    """Where a model version came from, when that is known."""

    dataset: str | None = None
    dataset_version: int | None = None
    job_id: str | None = None


class VersionMetadata(BaseModel):
    """What a client may say about a new model version (the `metadata` part of an upload)."""

    model_config = ConfigDict(extra="forbid")

    signature: Signature | None = None
    example: dict[str, Any] | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    lineage: Lineage | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    description: str = Field("", max_length=20_000)
    extract: bool = Field(False, description="Unpack an uploaded .zip/.tar.* archive.")
    alias: str | None = Field(None, pattern=ALIAS_PATTERN)


class DatasetVersionMetadata(BaseModel):
    """What a client may say about a new dataset version."""

    model_config = ConfigDict(extra="forbid")

    description: str = Field("", max_length=20_000)
    extract: bool = False


class DatasetRemoteVersion(BaseModel):
    """A new dataset version whose files stay remote: root:// (XRootD) or https:// URLs."""

    model_config = ConfigDict(extra="forbid")

    urls: list[str] = Field(min_length=1, max_length=100)
    description: str = Field("", max_length=20_000)


class ModelCreate(BaseModel):
    """A new model entry (its versions come with uploads)."""

    name: Name
    title: str = Field("", max_length=200)
    objective: Objective = Objective.OTHER
    format: ModelFormat
    description: str = Field("", max_length=100_000)
    tags: Tags = Field(default_factory=list)
    visibility: Visibility = Visibility.PRIVATE


class ModelUpdate(BaseModel):
    """A change to a model entry; absent fields are kept."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(None, max_length=200)
    objective: Objective | None = None
    description: str | None = Field(None, max_length=100_000)
    tags: Tags | None = None
    visibility: Visibility | None = None
    trusted: bool | None = Field(None, description="Admins only: allow formats that run code.")
    serving: dict[str, Any] | None = None


class EndpointCreate(BaseModel):
    """A remote model server to register as a catalog model."""

    name: Name
    url: str = Field(min_length=1, max_length=2048)
    protocol: Protocol
    remote_name: str | None = Field(None, description="The model's name on the remote server.")
    api_key: str | None = Field(None, max_length=4096)
    title: str = Field("", max_length=200)
    objective: Objective = Objective.OTHER
    description: str = Field("", max_length=100_000)
    tags: Tags = Field(default_factory=list)
    visibility: Visibility = Visibility.PRIVATE
    check: bool = Field(True, description="Check that the endpoint answers before saving.")


class DatasetCreate(BaseModel):
    """A new dataset entry."""

    name: Name
    title: str = Field("", max_length=200)
    format: DatasetFormat
    description: str = Field("", max_length=100_000)
    tags: Tags = Field(default_factory=list)
    visibility: Visibility = Visibility.PRIVATE


class DatasetUpdate(BaseModel):
    """A change to a dataset entry."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(None, max_length=200)
    description: str | None = Field(None, max_length=100_000)
    tags: Tags | None = None
    visibility: Visibility | None = None


class EndpointInfo(BaseModel):
    """A remote endpoint as shown to callers (never the API key)."""

    url: str
    protocol: Protocol
    remote_name: str | None
    has_api_key: bool


class ModelVersionInfo(BaseModel):
    """A model version as shown to callers."""

    model: str
    version: int
    status: str
    files: list[PublicFile]
    signature: Signature | None
    example: dict[str, Any] | None
    metrics: dict[str, float]
    lineage: Lineage | None
    params: dict[str, Any]
    description: str
    aliases: list[str]
    detected: dict[str, Any] = Field(
        default_factory=dict, description="What the upload check found (kind, main file)."
    )
    created_at: datetime


class ModelInfo(BaseModel):
    """A model entry as shown to callers."""

    name: str
    owner: str
    title: str
    objective: Objective
    format: ModelFormat
    description: str
    tags: list[str]
    visibility: Visibility
    trusted: bool
    endpoint: EndpointInfo | None
    serving: dict[str, Any]
    latest_version: int | None
    versions: list[int]
    aliases: dict[str, int]
    created_at: datetime
    updated_at: datetime


class DatasetVersionInfo(BaseModel):
    """A dataset version as shown to callers."""

    dataset: str
    version: int
    status: str
    files: list[PublicFile]
    schema_: dict[str, Any] = Field(alias="schema", serialization_alias="schema")
    preview: dict[str, Any] | None
    description: str
    created_at: datetime

    model_config = ConfigDict(populate_by_name=True)


class DatasetInfo(BaseModel):
    """A dataset entry as shown to callers."""

    name: str
    owner: str
    title: str
    format: DatasetFormat
    description: str
    tags: list[str]
    visibility: Visibility
    latest_version: int | None
    versions: list[int]
    created_at: datetime
    updated_at: datetime


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list: `{"items": [...], "total": N}`."""

    items: list[T]
    total: int
