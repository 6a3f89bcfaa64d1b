"""One job, followed live: status, progress and ETA, logs, metric charts, cancel, result;
a search job also shows its trials (table and chart).

A timer polls the service every second: new log text is appended (and scrolled into view),
metric charts are redrawn when new points came, and the header follows the status. Once
the job has ended and its last log page is read, the timer stops.
"""

from __future__ import annotations

import asyncio
from typing import Any

from nicegui import ui

from aiplayground.errors import NotFound, PlaygroundError
from aiplayground.training.hpo import shown
from aiplayground.training.schemas import (
    SEARCH_RECIPE,
    TERMINAL,
    JobInfo,
    JobMetrics,
    JobStatus,
)
from aiplayground.ui.pages.train_common import (
    add_style,
    duration,
    elapsed,
    job_path,
    model_version_path,
    status_chip,
)
from aiplayground.ui.pages.train_trials import TrialsCard
from aiplayground.ui.shell import PRODUCT, PageContext, show_error, when

POLL_S = 1.0
MAX_LOG_CHARS = 400_000  # keep the page light: older text is dropped from the view


def _chart_options(name: str, points: list[tuple[int, float]]) -> dict[str, Any]:
    return {
        "title": {"text": name, "left": 8, "top": 4, "textStyle": {"fontSize": 13}},
        "grid": {"left": 48, "right": 16, "top": 36, "bottom": 32},
        "tooltip": {"trigger": "axis"},
        "xAxis": {
            "type": "value",
            "name": "step",
            "nameLocation": "middle",
            "nameGap": 22,
            "minInterval": 1,
        },
        "yAxis": {"type": "value", "scale": True},
        "series": [
            {
                "type": "line",
                "data": [[s, v] for s, v in points],
                "showSymbol": len(points) < 40,
                "smooth": False,
                "lineStyle": {"width": 2},
            }
        ],
        "animation": False,
    }


class JobView:
    """The page of one job."""

    def __init__(self, ctx: PageContext, job_id: str) -> None:
        self.ctx = ctx
        self.job_id = job_id
        self.service = ctx.platform.training
        self.cursor = 0
        self.log_chars = 0
        self.log_done = False
        self.metric_count = -1
        self.charts: dict[str, ui.element] = {}
        self.header_state: tuple[object, ...] | None = None
        self.trials: TrialsCard | None = None

    async def draw(self) -> None:
        add_style()
        with ui.row().classes("aip-crumbs items-center gap-1 text-sm aip-muted -mb-3"):
            ui.link("Train", "/train")
            ui.icon("chevron_right", size="1rem")
            ui.label("Jobs")
            ui.icon("chevron_right", size="1rem")
            ui.label(self.job_id).classes("aip-mono")
        try:
            job = self.service.get(self.ctx.principal, self.job_id)
        except NotFound:
            self.not_found()
            return
        ui.page_title(f"Job {job.id} · {PRODUCT}")
        with ui.row().classes("w-full items-center gap-3"):
            ui.label(f"{job.recipe} → {job.model}").classes("text-3xl font-semibold").props(
                'data-testid=page-title role=heading aria-level="1"'
            )
            self.chip_box = ui.row().classes("items-center gap-2")
            ui.space()
            self.cancel_button = ui.button(
                "Cancel", icon="stop_circle", on_click=self.confirm_cancel
            ).props("outline no-caps color=negative data-testid=cancel-job")
        self.banner = ui.column().classes("w-full gap-2")
        with ui.card().classes("aip-card w-full p-4 gap-2"):
            with ui.row().classes("w-full items-center gap-3"):
                ui.label("Progress").classes("font-medium")
                ui.space()
                self.eta = ui.label().classes("aip-muted text-sm").props("data-testid=job-eta")
            self.progress = ui.linear_progress(value=0, show_value=False, size="10px").props(
                "rounded data-testid=job-progress"
            )
        with ui.element("div").classes("grid grid-cols-1 lg:grid-cols-3 gap-4 w-full items-start"):
            with ui.card().classes("aip-card p-4 gap-2 min-w-0 lg:col-span-2"):
                ui.label("Logs").classes("text-lg font-medium")
                self.log = ui.element("pre").classes("aip-log w-full").props("data-testid=job-logs")
            with ui.card().classes("aip-card p-4 gap-3 min-w-0"):
                ui.label("Details").classes("text-lg font-medium")
                self.facts = ui.element("div").classes("aip-facts w-full")
        if job.recipe == SEARCH_RECIPE:
            self.trials = TrialsCard(self.service, self.ctx.principal, job.id, job.model)
            self.trials.draw()
        # A search's metric is shown per trial above; its trials have their own metrics.
        with ui.card().classes("aip-card w-full p-4 gap-2") as metrics_card:
            metrics_card.visible = self.trials is None
            ui.label("Metrics").classes("text-lg font-medium")
            self.no_metrics = ui.label("No metrics reported yet.").classes("aip-muted")
            self.tiles = ui.row().classes("w-full gap-3")
            self.chart_grid = (
                ui.element("div")
                .classes("grid grid-cols-1 md:grid-cols-2 gap-4 w-full")
                .props("data-testid=job-metrics")
            )
        self.show(job)
        await self.poll_output(job)
        self.timer = ui.timer(POLL_S, self.tick)

    def not_found(self) -> None:
        with (
            ui.card()
            .classes("aip-card w-full items-center text-center py-12 px-6 gap-3")
            .props("data-testid=job-not-found")
        ):
            ui.icon("search_off", size="3rem").classes("aip-muted")
            ui.label(f"No job “{self.job_id}”").classes("text-xl font-medium")
            ui.label("It may never have existed, or it belongs to another user.").classes(
                "aip-muted"
            )
            ui.button(
                "Back to Train", icon="arrow_back", on_click=lambda: ui.navigate.to("/train")
            ).props("unelevated no-caps")

    # polling -----------------------------------------------------------------------------

    async def tick(self) -> None:
        try:
            job = await asyncio.to_thread(self.service.get, self.ctx.principal, self.job_id)
        except PlaygroundError:
            self.timer.deactivate()
            return
        self.show(job)
        await self.poll_output(job)
        if job.status in TERMINAL and self.log_done:
            self.timer.deactivate()

    async def poll_output(self, job: JobInfo) -> None:
        caller = self.ctx.principal
        text, self.cursor, self.log_done = await asyncio.to_thread(
            self.service.logs, caller, self.job_id, after=self.cursor
        )
        if text:
            self.append_log(text)
        if job.status is JobStatus.QUEUED:
            return
        if self.trials is not None:
            await self.trials.refresh()
            return
        metrics = await asyncio.to_thread(self.service.metrics, caller, self.job_id)
        if len(metrics.items) != self.metric_count:
            self.metric_count = len(metrics.items)
            self.show_metrics(metrics)

    def append_log(self, text: str) -> None:
        self.log_chars += len(text)
        with self.log:
            ui.label(text).classes("inline")
        if self.log_chars > MAX_LOG_CHARS and len(self.log.default_slot.children) > 1:
            self.log.remove(self.log.default_slot.children[0])
        ui.run_javascript(
            f"const el = document.getElementById('c{self.log.id}');"
            "if (el) el.scrollTop = el.scrollHeight;"
        )

    def show_metrics(self, metrics: JobMetrics) -> None:
        """A chart per metric with several points; a single value as a tile."""
        self.no_metrics.visible = not metrics.series
        for name, points in metrics.series.items():
            shown = self.charts.get(name)
            if len(points) < 2:
                if shown is None:
                    with self.tiles:
                        self.tile(name, points[-1])
                continue
            options = _chart_options(name, points)
            if isinstance(shown, ui.echart):
                shown.options.clear()
                shown.options.update(options)
                shown.update()
                continue
            if shown is not None:
                shown.delete()
            with self.chart_grid:
                self.charts[name] = (
                    ui.echart(options).classes("aip-chart").props(f"data-testid=metric-{name}")
                )

    def tile(self, name: str, point: tuple[int, float]) -> None:
        with ui.column().classes("aip-tile gap-0").props(f"data-testid=metric-{name}") as tile:
            ui.label(name).classes("aip-muted text-xs")
            ui.label(f"{point[1]:.4g}").classes("text-2xl font-semibold")
            ui.label(f"at step {point[0]}").classes("aip-muted text-xs")
        self.charts[name] = tile

    # the header, progress and facts ------------------------------------------------------

    def show(self, job: JobInfo) -> None:
        state = (job.status, job.model_version, job.reason, job.cancel_requested, job.attempts)
        if state != self.header_state:
            self.header_state = state
            self.chip_box.clear()
            with self.chip_box:
                status_chip(job.status)
                if job.cancel_requested and job.status is JobStatus.RUNNING:
                    ui.label("stopping…").classes("aip-muted text-sm")
            self.cancel_button.set_visibility(job.status not in TERMINAL)
            self.cancel_button.set_enabled(not job.cancel_requested)
            self.draw_banner(job)
        self.draw_progress(job)
        self.draw_facts(job)

    def draw_banner(self, job: JobInfo) -> None:
        self.banner.clear()
        with self.banner:
            if job.status is JobStatus.SUCCEEDED and job.model_version is not None:
                with ui.row().classes("items-center gap-2").props("data-testid=job-result"):
                    ui.icon("check_circle", size="1.4rem").classes("text-positive")
                    ui.label("Registered as")
                    ui.link(
                        f"{job.model} v{job.model_version}",
                        model_version_path(job.model, job.model_version),
                    ).classes("font-medium").props("data-testid=model-version-link")
                    if job.metrics:
                        summary = ", ".join(f"{k} {v:.4g}" for k, v in job.metrics.items())
                        ui.label(f"· {summary}").classes("aip-muted").props(
                            "data-testid=job-summary"
                        )
            elif job.status in (JobStatus.FAILED, JobStatus.CANCELLED):
                label = "Failed" if job.status is JobStatus.FAILED else "Cancelled"
                ui.label(f"{label}: {job.reason or 'no reason given'}").classes(
                    "aip-reason w-full"
                ).props("data-testid=job-reason")

    def draw_progress(self, job: JobInfo) -> None:
        if job.status is JobStatus.SUCCEEDED:
            fraction: float | None = 1.0
        else:
            fraction = job.progress
        self.progress.props["indeterminate"] = job.status is JobStatus.RUNNING and fraction is None
        self.progress.set_value(fraction or 0.0)
        seconds = elapsed(job)
        if job.status is JobStatus.QUEUED:
            self.eta.text = "Waiting for a worker"
        elif job.status in TERMINAL:
            self.eta.text = f"{int((fraction or 0) * 100)} % · took {duration(seconds or 0)}"
        elif fraction and seconds and fraction > 0.01:
            left = seconds * (1 - fraction) / fraction
            self.eta.text = f"{int(fraction * 100)} % · about {duration(left)} left"
        else:
            self.eta.text = f"Running for {duration(seconds or 0)}"

    def draw_facts(self, job: JobInfo) -> None:
        dataset = job.dataset or "—"
        if job.dataset and job.dataset_version:
            dataset += f" v{job.dataset_version}"
        facts = [
            ("Job", job.id),
            ("Recipe", job.recipe),
            ("Dataset", dataset),
            ("Model", job.model + (f" v{job.model_version}" if job.model_version else "")),
            ("Executor", f"{job.executor.value}, {job.resources.processes} process(es)"),
            ("Time limit", duration(job.time_limit_s)),
            ("Attempts", f"{job.attempts} of {job.max_attempts}"),
            ("Created", when(job.created_at)),
            ("Started", when(job.started_at)),
            ("Finished", when(job.finished_at)),
        ]
        facts += [(name, f"{value:.4g}") for name, value in job.metrics.items()]
        if job.best_params:
            facts.append(("Best parameters", shown(job.best_params)))
        self.facts.clear()
        with self.facts:
            for name, value in facts:
                ui.label(name)
                ui.label(value).classes("aip-mono text-xs" if name == "Job" else "")
            if job.parent_id:
                ui.label("Search")
                ui.link(job.parent_id, job_path(job.parent_id)).classes("aip-mono text-xs").props(
                    "data-testid=parent-job-link"
                )

    # cancelling --------------------------------------------------------------------------

    async def confirm_cancel(self) -> None:
        with ui.dialog() as dialog, ui.card().classes("p-5 gap-3"):
            ui.label("Cancel this job?").classes("text-lg font-medium")
            ui.label("Its processes are stopped within seconds; no model version is made.")
            with ui.row().classes("w-full justify-end gap-2"):
                ui.button("Keep running", on_click=lambda: dialog.submit(False)).props(
                    "flat no-caps"
                )
                ui.button("Cancel job", on_click=lambda: dialog.submit(True)).props(
                    "unelevated no-caps color=negative data-testid=confirm-cancel"
                )
        if not await dialog:
            return
        try:
            job = self.service.cancel(self.ctx.current_principal(), self.job_id)
        except PlaygroundError as exc:
            show_error(exc)
            return
        self.show(job)
        self.timer.activate()
