"""The new-job card: recipe, dataset and version, target model, parameters, resources.

Submitting calls `platform.training.submit()`; its 422 names a field (`params.x`,
`resources.processes`, `dataset`, `model`, `executor`), and the message goes under it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from nicegui import ui
from pydantic import ValidationError

from aiplayground.catalog.schemas import DatasetInfo
from aiplayground.errors import PlaygroundError
from aiplayground.training.schemas import ExecutorKind, JobSubmit, RecipeInfo, Resources
from aiplayground.ui.pages.train_common import job_path
from aiplayground.ui.pages.train_form import SchemaForm
from aiplayground.ui.shell import PageContext, show_error

MAX_CHOICES = 500
AUTO = "auto"
DEFAULT_RECIPE = "tabular"  # needs no deep-learning data preparation


def _error(widget: Any, message: str) -> None:
    widget.props["error"] = True
    widget.props["error-message"] = message
    widget.update()


def _clear(widget: Any) -> None:
    if widget.props.get("error"):
        widget.props["error"] = False
        widget.update()


def _paragraphs(text: str) -> str:
    """A docstring-wrapped description as paragraphs that the browser wraps itself."""
    return "\n\n".join(" ".join(p.split()) for p in text.split("\n\n") if p.strip())


class SubmitCard:
    """Everything a job needs, and the button that queues it."""

    def __init__(self, ctx: PageContext) -> None:
        self.ctx = ctx
        self.service = ctx.platform.training
        self.recipes: dict[str, RecipeInfo] = {r.name: r for r in self.service.list_recipes()}
        caller = ctx.principal
        self.datasets: dict[str, DatasetInfo] = {
            d.name: d for d in ctx.platform.datasets.search(caller, limit=MAX_CHOICES).items
        }
        self.models = [m.name for m in ctx.platform.models.search(caller, limit=MAX_CHOICES).items]
        self.max_processes = ctx.platform.settings.training.max_processes
        self.default_limit = ctx.platform.settings.training.default_time_limit_s
        self.form: SchemaForm | None = None

    def draw(self) -> None:
        with ui.card().classes("aip-card w-full p-5 gap-4").props("data-testid=submit-card"):
            with ui.row().classes("items-center gap-2"):
                ui.icon("add_circle_outline", size="1.4rem").classes("text-primary")
                ui.label("New training job").classes("text-lg font-medium")
            with ui.element("div").classes("grid grid-cols-1 md:grid-cols-2 gap-4 w-full"):
                with ui.column().classes("gap-2 min-w-0"):
                    self.recipe = (
                        ui.select(
                            {n: r.title for n, r in self.recipes.items()},
                            label="Recipe",
                            value=(
                                DEFAULT_RECIPE
                                if DEFAULT_RECIPE in self.recipes
                                else next(iter(self.recipes), None)
                            ),
                            on_change=lambda _: self.recipe_changed(),
                        )
                        .props("outlined dense data-testid=recipe")
                        .classes("w-full")
                    )
                    self.recipe_text = ui.label().classes("aip-recipe-text aip-muted")
                with ui.column().classes("gap-3 min-w-0"):
                    with ui.row().classes("w-full gap-3 no-wrap"):
                        self.dataset = (
                            ui.select(
                                {},
                                label="Dataset",
                                with_input=True,
                                on_change=lambda _: self.dataset_changed(),
                            )
                            .props("outlined dense data-testid=dataset")
                            .classes("grow")
                        )
                        self.version = (
                            ui.select({}, label="Version")
                            .props("outlined dense data-testid=dataset-version")
                            .classes("w-36")
                        )
                    self.model = (
                        ui.input(
                            "Target model",
                            autocomplete=self.models,
                        )
                        .props(
                            "outlined dense data-testid=model "
                            'hint="A new name, or one of your models to add a version to."'
                        )
                        .classes("w-full")
                    )
            ui.label("Parameters").classes("text-base font-medium mt-1")
            self.params_box = ui.column().classes("w-full gap-0")
            ui.label("Resources").classes("text-base font-medium mt-1")
            with ui.element("div").classes("aip-train-params w-full"):
                self.processes = (
                    ui.number("Processes", value=1, min=1, max=self.max_processes, format="%d")
                    .props("outlined dense data-testid=processes")
                    .classes("w-full")
                )
                self.time_limit = (
                    ui.number("Time limit, seconds", min=1)
                    .props(
                        f"outlined dense clearable data-testid=time-limit "
                        f'hint="Empty: {self.default_limit:g} s"'
                    )
                    .classes("w-full")
                )
                self.executor = (
                    ui.select(
                        {AUTO: "Automatic", **{e.value: e.value for e in ExecutorKind}},
                        label="Executor",
                        value=AUTO,
                    )
                    .props(
                        "outlined dense data-testid=executor "
                        'hint="Automatic: torchrun for several processes, else local."'
                    )
                    .classes("w-full")
                )
            with ui.row().classes("w-full items-center justify-end gap-3"):
                self.busy = ui.spinner(size="1.4rem")
                self.busy.visible = False
                self.button = ui.button("Submit", icon="play_arrow", on_click=self.submit).props(
                    "unelevated no-caps data-testid=submit-job"
                )
        for widget in (self.model, self.version, self.processes, self.time_limit, self.executor):
            widget.on_value_change(lambda _, w=widget: _clear(w))
        self.recipe_changed()

    # choices ---------------------------------------------------------------------------

    def recipe_changed(self) -> None:
        recipe = self.recipes.get(self.recipe.value or "")
        self.params_box.clear()
        self.form = None
        if recipe is None:
            self.recipe_text.text = ""
            return
        self.recipe_text.text = _paragraphs(recipe.description)
        with self.params_box:
            self.form = SchemaForm(recipe.params_schema)
        formats = set(recipe.dataset_formats)
        options = {
            n: f"{n} ({d.format.value})"
            for n, d in self.datasets.items()
            if d.format.value in formats and d.versions
        }
        self.dataset.set_options(options)
        if self.dataset.value not in options:
            self.dataset.set_value(next(iter(options), None))
        self.dataset.set_visibility(bool(formats))
        self.version.set_visibility(bool(formats))
        self.processes.enabled = recipe.distributed
        if not recipe.distributed:
            self.processes.set_value(1)
        self.dataset_changed()

    def dataset_changed(self) -> None:
        _clear(self.dataset)
        info = self.datasets.get(self.dataset.value or "")
        versions = sorted(info.versions, reverse=True) if info else []
        options: dict[int | None, str] = {None: "latest"}
        options.update({v: f"v{v}" for v in versions})
        self.version.set_options(options, value=None)

    # submitting ------------------------------------------------------------------------

    def body(self) -> JobSubmit | None:
        """The job to submit, or None after showing what is wrong."""
        if self.form is None:
            return None
        try:
            params = self.form.values()
        except ValueError:
            return None
        limit = self.time_limit.value
        try:
            return JobSubmit(
                recipe=self.recipe.value,
                params=params,
                dataset=self.dataset.value if self.dataset.visible else None,
                dataset_version=self.version.value,
                model=(self.model.value or "").strip(),
                resources=Resources(
                    processes=int(self.processes.value or 1),
                    time_limit_s=float(limit) if limit else None,
                ),
                executor=None if self.executor.value == AUTO else ExecutorKind(self.executor.value),
            )
        except ValidationError as exc:
            for problem in exc.errors():
                self.show_problem([str(p) for p in problem["loc"]], problem["msg"])
            return None

    async def submit(self) -> None:
        body = self.body()
        if body is None:
            return
        self.button.disable()
        self.busy.visible = True
        try:
            caller = self.ctx.current_principal()
            job = await asyncio.to_thread(self.service.submit, caller, body)
        except PlaygroundError as exc:
            problems = exc.details.get("problems") or (
                [{"field": exc.details["field"], "message": exc.message}]
                if "field" in exc.details
                else []
            )
            shown = [self.show_problem(p["field"].split("."), p["message"]) for p in problems]
            if not any(shown):
                show_error(exc)
            return
        finally:
            self.button.enable()
            self.busy.visible = False
        ui.notify(f"Job {job.id} queued", type="positive", position="top")
        ui.navigate.to(job_path(job.id))

    def show_problem(self, path: list[str], message: str) -> bool:
        """Put a message under the field at `path`; False when no field matches."""
        head, rest = (path[0], path[1:]) if path else ("", [])
        if head == "params" and self.form is not None:
            return self.form.set_error(rest, message)
        widget = {
            "dataset": self.dataset,
            "dataset_version": self.version,
            "model": self.model,
            "executor": self.executor,
            "recipe": self.recipe,
        }.get(head)
        if head == "resources":
            widget = {"processes": self.processes, "time_limit_s": self.time_limit}.get(
                rest[0] if rest else ""
            )
        if widget is None:
            return False
        _error(widget, message)
        return True
