"""Training REST: /api/v1/recipes and /api/v1/jobs (submit, list, get, logs, metrics, trials,
cancel, delete)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import PlainTextResponse, StreamingResponse

from aiplayground.api.deps import CurrentPrincipal, get_platform
from aiplayground.catalog.schemas import Page
from aiplayground.training.schemas import (
    JobInfo,
    JobMetrics,
    JobStatus,
    JobSubmit,
    JobTrials,
    RecipeInfo,
)
from aiplayground.training.service import TrainingService

router = APIRouter(prefix="/api/v1", tags=["training"])

Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0)]
TEXT = "text/plain; charset=utf-8"


def _training(request: Request) -> TrainingService:
    service: TrainingService = get_platform(request).training
    return service


@router.get("/recipes")
def list_recipes(request: Request, principal: CurrentPrincipal) -> Page[RecipeInfo]:
    """Every recipe with its description and the JSON schema of its parameters."""
    items = _training(request).list_recipes()
    return Page(items=items, total=len(items))


@router.post("/jobs", status_code=201)
def submit_job(request: Request, principal: CurrentPrincipal, body: JobSubmit) -> JobInfo:
    """Queue a job; its parameters are checked against the recipe's schema (422 names the field)."""
    return _training(request).submit(principal, body)


@router.get("/jobs")
def list_jobs(
    request: Request,
    principal: CurrentPrincipal,
    status: JobStatus | None = None,
    parent: Annotated[
        str | None, Query(description="Only the child jobs of this job (a search's trials).")
    ] = None,
    everyone: Annotated[bool, Query(alias="all", description="Admins: every user's jobs.")] = False,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[JobInfo]:
    """The caller's jobs, newest first."""
    return _training(request).list_jobs(
        principal, status=status, parent_id=parent, everyone=everyone, limit=limit, offset=offset
    )


@router.get("/jobs/{job_id}")
def get_job(request: Request, principal: CurrentPrincipal, job_id: str) -> JobInfo:
    """One job: status, attempts, progress, metrics and the model version it produced."""
    return _training(request).get(principal, job_id)


@router.get(
    "/jobs/{job_id}/logs",
    response_class=PlainTextResponse,
    response_model=None,
    responses={200: {"content": {"text/plain": {}}}},
)
def job_logs(
    request: Request,
    principal: CurrentPrincipal,
    job_id: str,
    follow: Annotated[bool, Query(description="Stream new output until the job ends.")] = False,
    after: Annotated[int, Query(ge=0, description="Cursor from X-Log-Cursor.")] = 0,
) -> PlainTextResponse | StreamingResponse:
    """The job's output as text; with follow=true, streamed until the job ends."""
    service = _training(request)
    if follow:
        service.get(principal, job_id)  # 404 before the stream starts
        return StreamingResponse(
            (chunk.encode() for chunk in service.follow_logs(principal, job_id)),
            media_type=TEXT,
            headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
        )
    text, cursor, ended = service.logs(principal, job_id, after=after)
    return PlainTextResponse(
        text,
        media_type=TEXT,
        headers={
            "X-Log-Cursor": str(cursor),
            "X-Job-Ended": "true" if ended else "false",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get("/jobs/{job_id}/metrics")
def job_metrics(request: Request, principal: CurrentPrincipal, job_id: str) -> JobMetrics:
    """Every metric value the job reported (per step), also grouped by metric name."""
    return _training(request).metrics(principal, job_id)


@router.post("/jobs/{job_id}/cancel")
def cancel_job(request: Request, principal: CurrentPrincipal, job_id: str) -> JobInfo:
    """Cancel a job: at once when queued; its processes are stopped within seconds when running."""
    return _training(request).cancel(principal, job_id)


@router.get("/jobs/{job_id}/trials")
def job_trials(request: Request, principal: CurrentPrincipal, job_id: str) -> JobTrials:
    """The trials of a search job (recipe "hpo"): parameters, metric, state, child job."""
    return _training(request).trials(principal, job_id)


@router.delete("/jobs/{job_id}", status_code=204)
def delete_job(request: Request, principal: CurrentPrincipal, job_id: str) -> Response:
    """Delete an ended job with its logs, metrics and files (a search: with its trials); the
    model versions it registered stay. 409 while it is queued or running."""
    _training(request).delete(principal, job_id)
    return Response(status_code=204)
