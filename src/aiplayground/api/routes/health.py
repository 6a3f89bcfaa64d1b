"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from aiplayground.api.deps import CurrentPrincipal, get_platform
from aiplayground.errors import Unavailable

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> dict[str, Any]:
    """The database and the artifact store answer, and the server is not shutting down."""
    platform = get_platform(request)
    if platform.draining:
        raise Unavailable("the server is shutting down")
    platform.db.check()
    platform.storage.check()
    return {"status": "ready", "database": platform.db.dialect}


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request, _: CurrentPrincipal) -> Response:
    """Prometheus metrics of this process."""
    data = generate_latest(get_platform(request).metrics.registry)
    return Response(data, media_type=CONTENT_TYPE_LATEST)
