"""HEP REST: ROOT summaries of dataset versions and predictions on uploaded ROOT files."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from aiplayground.api.deps import CurrentPrincipal, get_platform
from aiplayground.api.uploads import staged_upload
from aiplayground.errors import InvalidInput

router = APIRouter(prefix="/api/v1", tags=["hep"])

PREDICT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "tree": {"type": "string"},
                        "format": {"type": "string", "enum": ["json", "csv", "parquet", "root"]},
                        "version": {"type": "string"},
                        "output": {
                            "type": "string",
                            "description": "Model output to return, e.g. predict_proba "
                            "(default: the model's default output).",
                        },
                    },
                    "required": ["file"],
                }
            }
        },
    }
}


@router.get("/datasets/{name}/versions/{version}/root-summary")
async def root_summary(
    request: Request,
    principal: CurrentPrincipal,
    name: str,
    version: int,
    tree: str | None = Query(default=None, max_length=200),
) -> dict[str, Any]:
    """Trees, branches (type, jagged), entries, per-branch summaries and multiplicities."""
    from aiplayground.hep.version_summary import summarize_version

    platform = get_platform(request)
    return await run_in_threadpool(summarize_version, platform, principal, name, version, tree)


@router.post("/models/{name}/predict-root", openapi_extra=PREDICT_BODY, response_model=None)
async def predict_root_route(
    request: Request, principal: CurrentPrincipal, name: str
) -> dict[str, Any] | FileResponse:
    """Per-event predictions for one uploaded ROOT file (`file`, `tree`, `format`, `output`)."""
    from aiplayground.hep.predict import FORMATS, MEDIA_TYPES, predict_root, write_root, write_table

    platform = get_platform(request)
    async with staged_upload(request, platform.staging, platform.settings.limits) as form:
        files = form.files_named("file")
        if len(files) != 1:
            raise InvalidInput("send exactly one ROOT file as the 'file' part")
        fmt = form.fields.get("format", "json")
        if fmt not in FORMATS:
            raise InvalidInput(f"format must be one of {list(FORMATS)}, not {fmt!r}")
        tree = form.fields.get("tree") or None
        version = form.fields.get("version") or None
        output = form.fields.get("output") or None
        source = files[0].path
        predictions = await predict_root(
            platform, principal, name, version, source, tree, output=output
        )
        if fmt == "json":
            return predictions.as_json()
        folder = Path(tempfile.mkdtemp(prefix="predict-", dir=platform.staging))
        out = folder / f"{name}-predictions.{fmt}"
        try:
            if fmt == "root":
                await run_in_threadpool(write_root, predictions, source, out)
            else:
                await run_in_threadpool(write_table, predictions, out, cast(Any, fmt))
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
    return FileResponse(
        out,
        media_type=MEDIA_TYPES[fmt],
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(out.name)}",
            "X-Content-Type-Options": "nosniff",
        },
        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
    )
