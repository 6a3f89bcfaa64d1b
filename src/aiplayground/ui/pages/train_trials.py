"""The trials of a search job: a table linked to each trial's job, and a chart of the metric
per trial with the best value so far. Redrawn when a trial changes."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from nicegui import ui

from aiplayground.errors import PlaygroundError
from aiplayground.training.hpo import shown
from aiplayground.training.schemas import JobTrials, TrialInfo
from aiplayground.ui.pages.train_common import job_path, model_version_path

STATES: dict[str, tuple[str, str]] = {
    "running": ("Running", "#2563eb"),
    "complete": ("Complete", "#059669"),
    "fail": ("Failed", "#dc2626"),
    "pruned": ("Pruned", "#d97706"),
    "waiting": ("Waiting", "#64748b"),
}
HEADS = ("Trial", "State", "Value", "Parameters", "Job", "Version")


def chart_options(trials: JobTrials) -> dict[str, Any]:
    """The metric of each completed trial as points, the best so far as a step line."""
    done = [t for t in trials.items if t.value is not None]
    best = [[t.number, t.best_value] for t in trials.items if t.best_value is not None]
    return {
        "grid": {"left": 56, "right": 16, "top": 36, "bottom": 36},
        "legend": {"top": 4, "right": 8},
        "tooltip": {"trigger": "item"},
        "xAxis": {
            "type": "value",
            "name": "trial",
            "nameLocation": "middle",
            "nameGap": 22,
            "minInterval": 1,
        },
        "yAxis": {"type": "value", "scale": True, "name": trials.metric},
        "series": [
            {
                "type": "scatter",
                "name": trials.metric,
                "data": [[t.number, t.value] for t in done],
                "symbolSize": 9,
            },
            {
                "type": "line",
                "name": "best so far",
                "step": "end",
                "data": best,
                "showSymbol": False,
                "lineStyle": {"width": 2},
            },
        ],
        "animation": False,
    }


class TrialsCard:
    """A search's trials, drawn under its job view and refreshed by the view's timer."""

    def __init__(self, service: Any, principal: Any, job_id: str, model: str) -> None:
        self.service = service
        self.principal = principal
        self.job_id = job_id
        self.model = model
        self.shown: tuple[object, ...] | None = None
        self.chart: ui.echart | None = None

    def draw(self) -> None:
        with ui.card().classes("aip-card w-full p-4 gap-3").props("data-testid=job-trials"):
            with ui.row().classes("w-full items-center gap-2"):
                ui.icon("tune", size="1.3rem").classes("text-primary")
                ui.label("Trials").classes("text-lg font-medium")
                ui.space()
                self.best = ui.label().classes("aip-muted text-sm").props("data-testid=best-trial")
            self.empty = ui.label("No trials yet: a worker queues them once it takes the search.")
            self.empty.classes("aip-muted")
            self.chart_box = ui.element("div").classes("w-full")
            self.table = ui.element("div").classes("aip-trials").props("data-testid=trials-table")

    async def refresh(self) -> None:
        try:
            trials = await asyncio.to_thread(self.service.trials, self.principal, self.job_id)
        except PlaygroundError:
            return
        self.show(trials)

    def show(self, trials: JobTrials) -> None:
        signature = tuple((t.number, t.state, t.value, t.job_status) for t in trials.items)
        if signature == self.shown:
            return
        self.shown = signature
        self.empty.visible = not trials.items
        best = trials.best
        self.best.text = (
            f"best: trial {best.number}, {trials.metric} {best.value:.4g} "
            f"({trials.direction}) · {len(trials.items)} of {trials.n_trials} trials"
            if best is not None and best.value is not None
            else f"{len(trials.items)} of {trials.n_trials} trials"
        )
        self.draw_chart(trials)
        self.table.clear()
        if not trials.items:
            return
        with self.table:
            for head in (*HEADS[:2], trials.metric, *HEADS[3:]):
                ui.label(head).classes("aip-jobs-head")
            for trial in trials.items:
                self.row(trial, best)

    def draw_chart(self, trials: JobTrials) -> None:
        options = chart_options(trials)
        if self.chart is not None:
            self.chart.options.clear()
            self.chart.options.update(options)
            self.chart.update()
            return
        if not any(t.value is not None for t in trials.items):
            return
        with self.chart_box:
            self.chart = ui.echart(options).classes("aip-chart").props("data-testid=trials-chart")

    def row(self, trial: TrialInfo, best: TrialInfo | None) -> None:
        label, accent = STATES.get(trial.state, (trial.state, "#64748b"))
        star = " ★" if best is not None and best.number == trial.number else ""
        ui.label(f"{trial.number}{star}").props(f"data-testid=trial-row-{trial.number}")
        ui.label(label).style(f"color: {accent}; font-weight: 500")
        ui.label("—" if trial.value is None else f"{trial.value:.4g}")
        ui.label(shown(trial.params)).classes("aip-mono text-xs").tooltip(json.dumps(trial.params))
        if trial.job_id:
            ui.link(trial.job_id, job_path(trial.job_id)).classes("aip-mono text-xs").props(
                "data-testid=trial-job-link"
            )
        else:
            ui.label("—")
        if trial.model_version is not None:
            ui.link(f"v{trial.model_version}", model_version_path(self.model, trial.model_version))
        else:
            ui.label("—")
