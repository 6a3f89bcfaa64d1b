"""What the Train pages share: status chips, paths, durations and styles."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from urllib.parse import quote

from nicegui import ui

from aiplayground.training.schemas import JobInfo, JobStatus
from aiplayground.ui.pages.catalog_common import chip
from aiplayground.ui.shell import NAV, NavItem

STATUS: dict[JobStatus, tuple[str, str, str]] = {
    JobStatus.QUEUED: ("Queued", "schedule", "#64748b"),
    JobStatus.RUNNING: ("Running", "autorenew", "#2563eb"),
    JobStatus.SUCCEEDED: ("Succeeded", "check_circle", "#059669"),
    JobStatus.FAILED: ("Failed", "error", "#dc2626"),
    JobStatus.CANCELLED: ("Cancelled", "block", "#d97706"),
}

STYLE = """
<style>
  .aip-train-params { display: grid; gap: .9rem 1rem;
    grid-template-columns: repeat(auto-fill, minmax(15rem, 1fr)); }
  .aip-recipe-text { white-space: pre-line; font-size: .88rem; }
  .aip-jobs { display: grid; grid-template-columns: minmax(7rem, auto) 1fr 1fr 1fr auto auto;
    align-items: center; width: 100%; font-size: .88rem; }
  .aip-jobs > * { padding: .55rem .6rem; border-bottom: 1px solid #eef2f7; min-width: 0;
    overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
  .body--dark .aip-jobs > * { border-color: #232938; }
  .aip-jobs .aip-jobs-head { font-size: .75rem; text-transform: uppercase;
    letter-spacing: .04em; color: #6b7280; font-weight: 600; }
  .aip-jobs a { color: var(--q-primary); text-decoration: none; }
  .body--dark .aip-jobs a { color: #a9bcff; }
  .aip-log { min-height: 8rem; max-height: 26rem; overflow-y: auto; margin: 0; padding: .75rem 1rem;
    font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .8rem;
    line-height: 1.35; white-space: pre-wrap; overflow-wrap: anywhere; border-radius: .6rem;
    background: #0f172a; color: #e2e8f0; }
  .aip-facts { display: grid; grid-template-columns: auto 1fr; gap: .35rem 1rem;
    font-size: .88rem; }
  .aip-facts > :nth-child(odd) { color: #6b7280; }
  .body--dark .aip-facts > :nth-child(odd) { color: #9ca3af; }
  .aip-reason { border: 1px solid #fecaca; background: #fef2f2; color: #991b1b;
    border-radius: .7rem; padding: .75rem 1rem; overflow-wrap: anywhere; }
  .body--dark .aip-reason { border-color: #5b2323; background: rgba(220, 38, 38, .08);
    color: #fca5a5; }
  .aip-chart { height: 17rem; width: 100%; }
  .aip-facts > :nth-child(odd) { white-space: nowrap; }
  .aip-trials { display: grid; width: 100%; font-size: .86rem; align-items: center;
    grid-template-columns: auto auto auto minmax(10rem, 1fr) minmax(7rem, auto) auto; }
  .aip-trials > * { padding: .45rem .6rem; border-bottom: 1px solid #eef2f7; min-width: 0;
    overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
  .body--dark .aip-trials > * { border-color: #232938; }
  .aip-trials a { color: var(--q-primary); text-decoration: none; }
  .body--dark .aip-trials a { color: #a9bcff; }
  .aip-tile { border: 1px solid #e5e7eb; border-radius: .7rem; padding: .6rem 1rem;
    min-width: 10rem; }
  .body--dark .aip-tile { border-color: #2a2f3a; }
</style>
"""


def add_style() -> None:
    """The Train pages' styles (on top of the catalog's chips)."""
    ui.add_head_html(STYLE)


def sub_page(path: str) -> NavItem:
    """A page under /train that keeps Train highlighted in the navigation."""
    return replace(NAV["train"], path=path)


def job_path(job_id: str) -> str:
    """The job view."""
    return f"/train/jobs/{quote(job_id, safe='')}"


def model_version_path(name: str, version: int) -> str:
    """The catalog page of the model version a job produced."""
    return f"/catalog/models/{quote(name, safe='')}?version={version}"


def status_chip(status: JobStatus, testid: str = "job-status") -> ui.element:
    """The status as a coloured chip."""
    label, icon, accent = STATUS[status]
    return chip(label, icon, accent=accent, testid=testid)


def duration(seconds: float) -> str:
    """Seconds as the user reads them: 42 s, 3 min 5 s, 2 h 10 min."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def elapsed(job: JobInfo) -> float | None:
    """Seconds the job has run (until now when still running)."""
    if job.started_at is None:
        return None
    end = job.finished_at or datetime.now(UTC)
    return (end - job.started_at).total_seconds()


def short_time(moment: datetime | None) -> str:
    """A timestamp in a list: UTC, to the second."""
    if moment is None:
        return "—"
    return moment.astimezone(UTC).strftime("%m-%d %H:%M:%S")
