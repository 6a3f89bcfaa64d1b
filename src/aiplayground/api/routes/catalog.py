"""Catalog REST: /api/v1/models and /api/v1/datasets with versions, aliases and files."""

from __future__ import annotations

import mimetypes
from collections.abc import Iterator
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from aiplayground.api.deps import CurrentPrincipal, get_platform
from aiplayground.api.uploads import multipart_openapi, staged_upload
from aiplayground.catalog.schemas import (
    DatasetCreate,
    DatasetFormat,
    DatasetInfo,
    DatasetRemoteVersion,
    DatasetUpdate,
    DatasetVersionInfo,
    DatasetVersionMetadata,
    EndpointCreate,
    ModelCreate,
    ModelFormat,
    ModelInfo,
    ModelUpdate,
    ModelVersionInfo,
    Objective,
    Page,
    VersionMetadata,
)
from aiplayground.errors import ValidationFailed

router = APIRouter(prefix="/api/v1", tags=["catalog"])

Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0)]
VERSION_BODY = multipart_openapi(metadata=True)


M = TypeVar("M", bound=BaseModel)


def _metadata(raw: str | None, model: type[M]) -> M:
    try:
        return model.model_validate_json(raw or "{}")
    except ValidationError as exc:
        problems = [
            {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()
        ]
        first = problems[0]
        raise ValidationFailed(
            f"metadata.{first['field']}: {first['message']}", details={"problems": problems}
        ) from exc


def _download(stream: Any, path: str, size: int) -> StreamingResponse:
    def chunks() -> Iterator[bytes]:
        with stream:
            while chunk := stream.read(1024 * 1024):
                yield chunk

    filename = path.rsplit("/", 1)[-1]
    # Always an attachment and never sniffed: an uploaded HTML or SVG must not run here.
    return StreamingResponse(
        chunks(),
        media_type=mimetypes.guess_type(filename)[0] or "application/octet-stream",
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}",
            "Content-Length": str(size),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )


# models ------------------------------------------------------------------------------


@router.post("/models", status_code=201)
def create_model(request: Request, principal: CurrentPrincipal, body: ModelCreate) -> ModelInfo:
    """Create a model entry; upload versions with POST /models/{name}/versions."""
    return get_platform(request).models.create(principal, body)


@router.get("/models")
def list_models(
    request: Request,
    principal: CurrentPrincipal,
    q: str | None = None,
    objective: Objective | None = None,
    format: ModelFormat | None = None,
    tag: str | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[ModelInfo]:
    """Models the caller can see, filtered and searched."""
    return get_platform(request).models.search(
        principal, q=q, objective=objective, format=format, tag=tag, limit=limit, offset=offset
    )


@router.post("/models/endpoints", status_code=201)
def register_endpoint(
    request: Request, principal: CurrentPrincipal, body: EndpointCreate
) -> ModelInfo:
    """Register a remote KServe v1/v2 or OpenAI-compatible endpoint as a model."""
    return get_platform(request).models.register_endpoint(principal, body)


@router.get("/models/{name}")
def get_model(request: Request, principal: CurrentPrincipal, name: str) -> ModelInfo:
    """One model."""
    return get_platform(request).models.get(principal, name)


@router.patch("/models/{name}")
def update_model(
    request: Request, principal: CurrentPrincipal, name: str, body: ModelUpdate
) -> ModelInfo:
    """Change a model's card, tags, visibility, serving settings or (admins) trust."""
    return get_platform(request).models.update(principal, name, body)


@router.delete("/models/{name}", status_code=204)
def delete_model(request: Request, principal: CurrentPrincipal, name: str) -> None:
    """Delete a model with all its versions and files."""
    get_platform(request).models.delete(principal, name)


@router.post("/models/{name}/versions", status_code=201, openapi_extra=VERSION_BODY)
async def upload_model_version(
    request: Request, principal: CurrentPrincipal, name: str
) -> ModelVersionInfo:
    """Upload files (multipart `file` parts, optional `metadata` JSON) as a new version."""
    platform = get_platform(request)
    principal.require_write()
    async with staged_upload(request, platform.staging, platform.settings.limits) as form:
        meta = _metadata(form.fields.get("metadata"), VersionMetadata)
        return await run_in_threadpool(
            platform.models.add_version, principal, name, form.files_named("file"), meta
        )


@router.get("/models/{name}/versions/{version}")
def get_model_version(
    request: Request, principal: CurrentPrincipal, name: str, version: int
) -> ModelVersionInfo:
    """One version of a model: files, signature, example, metrics, lineage."""
    return get_platform(request).models.get_version(principal, name, version)


@router.get("/models/{name}/versions/{version}/files/{path:path}")
def download_model_file(
    request: Request, principal: CurrentPrincipal, name: str, version: int, path: str
) -> StreamingResponse:
    """Download one file of a model version."""
    stream, entry = get_platform(request).models.open_file(principal, name, version, path)
    return _download(stream, entry.path, entry.size)


class AliasBody(BaseModel):
    """Which version an alias points at."""

    version: int


@router.put("/models/{name}/aliases/{alias}")
def set_alias(
    request: Request, principal: CurrentPrincipal, name: str, alias: str, body: AliasBody
) -> ModelInfo:
    """Point an alias (production, staging, ...) at a version."""
    return get_platform(request).models.set_alias(principal, name, alias, body.version)


@router.delete("/models/{name}/aliases/{alias}")
def delete_alias(request: Request, principal: CurrentPrincipal, name: str, alias: str) -> ModelInfo:
    """Remove an alias."""
    return get_platform(request).models.delete_alias(principal, name, alias)


# datasets ----------------------------------------------------------------------------


@router.post("/datasets", status_code=201)
def create_dataset(
    request: Request, principal: CurrentPrincipal, body: DatasetCreate
) -> DatasetInfo:
    """Create a dataset entry; upload versions with POST /datasets/{name}/versions."""
    return get_platform(request).datasets.create(principal, body)


@router.get("/datasets")
def list_datasets(
    request: Request,
    principal: CurrentPrincipal,
    q: str | None = None,
    format: DatasetFormat | None = None,
    tag: str | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[DatasetInfo]:
    """Datasets the caller can see, filtered and searched."""
    return get_platform(request).datasets.search(
        principal, q=q, format=format, tag=tag, limit=limit, offset=offset
    )


@router.get("/datasets/{name}")
def get_dataset(request: Request, principal: CurrentPrincipal, name: str) -> DatasetInfo:
    """One dataset."""
    return get_platform(request).datasets.get(principal, name)


@router.patch("/datasets/{name}")
def update_dataset(
    request: Request, principal: CurrentPrincipal, name: str, body: DatasetUpdate
) -> DatasetInfo:
    """Change a dataset's description, tags or visibility."""
    return get_platform(request).datasets.update(principal, name, body)


@router.delete("/datasets/{name}", status_code=204)
def delete_dataset(request: Request, principal: CurrentPrincipal, name: str) -> None:
    """Delete a dataset with all its versions and files."""
    get_platform(request).datasets.delete(principal, name)


@router.post("/datasets/{name}/versions", status_code=201, openapi_extra=VERSION_BODY)
async def upload_dataset_version(
    request: Request, principal: CurrentPrincipal, name: str
) -> DatasetVersionInfo:
    """Upload files (multipart `file` parts, optional `metadata` JSON) as a new version."""
    platform = get_platform(request)
    principal.require_write()
    async with staged_upload(request, platform.staging, platform.settings.limits) as form:
        meta = _metadata(form.fields.get("metadata"), DatasetVersionMetadata)
        return await run_in_threadpool(
            platform.datasets.add_version, principal, name, form.files_named("file"), meta
        )


@router.post("/datasets/{name}/versions/remote", status_code=201)
def add_remote_dataset_version(
    request: Request, principal: CurrentPrincipal, name: str, body: DatasetRemoteVersion
) -> DatasetVersionInfo:
    """Register remote ROOT files (root:// or https:// URLs) as a new version, once checked."""
    return get_platform(request).datasets.add_remote_version(principal, name, body)


@router.get("/datasets/{name}/versions/{version}")
def get_dataset_version(
    request: Request, principal: CurrentPrincipal, name: str, version: int
) -> DatasetVersionInfo:
    """One version of a dataset: files, schema and preview."""
    return get_platform(request).datasets.get_version(principal, name, version)


@router.get("/datasets/{name}/versions/{version}/files/{path:path}")
def download_dataset_file(
    request: Request, principal: CurrentPrincipal, name: str, version: int, path: str
) -> StreamingResponse:
    """Download one file of a dataset version."""
    stream, entry = get_platform(request).datasets.open_file(principal, name, version, path)
    return _download(stream, entry.path, entry.size)
