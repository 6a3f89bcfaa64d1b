"""The caller's jobs, newest first, redrawn every few seconds while any is not finished."""

from __future__ import annotations

import asyncio

from nicegui import ui

from aiplayground.errors import PlaygroundError
from aiplayground.training.schemas import TERMINAL, JobInfo
from aiplayground.ui.pages.train_common import (
    duration,
    elapsed,
    job_path,
    short_time,
    status_chip,
)
from aiplayground.ui.shell import PageContext

REFRESH_S = 2.0
SHOWN = 50
HEADS = ("Status", "Job", "Dataset", "Model", "Created", "Ran")


def _signature(jobs: list[JobInfo]) -> tuple[object, ...]:
    return tuple((j.id, j.status, j.model_version, j.started_at, j.finished_at) for j in jobs)


class JobList:
    """A card with the caller's latest jobs."""

    def __init__(self, ctx: PageContext) -> None:
        self.ctx = ctx
        self.service = ctx.platform.training
        self.shown: tuple[object, ...] | None = None

    def draw(self) -> None:
        with ui.card().classes("aip-card w-full p-5 gap-3").props("data-testid=job-list"):
            with ui.row().classes("w-full items-center gap-2"):
                ui.icon("list_alt", size="1.4rem").classes("text-primary")
                ui.label("Your jobs").classes("text-lg font-medium")
                ui.space()
                self.count = ui.label().classes("aip-muted text-sm")
            self.body = ui.column().classes("w-full gap-0")
        self.render(self.service.list_jobs(self.ctx.principal, limit=SHOWN).items, 0)
        ui.timer(REFRESH_S, self.refresh)

    async def refresh(self) -> None:
        try:
            page = await asyncio.to_thread(self.service.list_jobs, self.ctx.principal, limit=SHOWN)
        except PlaygroundError:
            return
        self.render(page.items, page.total)

    def render(self, jobs: list[JobInfo], total: int) -> None:
        running = [j for j in jobs if j.status not in TERMINAL]
        signature = (_signature(jobs), bool(running) and _signature(running))
        if signature == self.shown and not running:
            return
        self.shown = signature
        total = max(total, len(jobs))
        self.count.text = f"{total} job{'s' if total != 1 else ''}" if total else ""
        self.body.clear()
        with self.body:
            if not jobs:
                self.empty()
                return
            with ui.element("div").classes("aip-jobs"):
                for head in HEADS:
                    ui.label(head).classes("aip-jobs-head")
                for job in jobs:
                    self.row(job)

    def row(self, job: JobInfo) -> None:
        with ui.element("div").props(f"data-testid=job-row-{job.id}"):
            status_chip(job.status, testid="job-row-status")
        with ui.column().classes("gap-0"):
            ui.link(job.id, job_path(job.id)).classes("aip-mono text-xs").props(
                "data-testid=job-link"
            )
            kind = f"{job.recipe} · trial" if job.parent_id else job.recipe
            ui.label(kind).classes("aip-muted text-xs")
        dataset = job.dataset or "—"
        if job.dataset and job.dataset_version:
            dataset += f" v{job.dataset_version}"
        ui.label(dataset)
        model = job.model + (f" v{job.model_version}" if job.model_version else "")
        ui.label(model)
        ui.label(short_time(job.created_at)).classes("aip-muted")
        seconds = elapsed(job)
        ui.label("—" if seconds is None else duration(seconds)).classes("aip-muted")

    def empty(self) -> None:
        with (
            ui.column()
            .classes("w-full items-center text-center py-8 gap-2")
            .props("data-testid=empty-state")
        ):
            ui.icon("model_training", size="2.6rem").classes("text-primary opacity-70")
            ui.label("No training jobs yet").classes("text-base font-medium")
            ui.label(
                "Submit one above: it waits in the queue until a worker takes it, and you can "
                "follow its logs and metrics live."
            ).classes("aip-muted max-w-xl")
