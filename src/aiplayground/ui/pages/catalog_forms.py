"""Form parts of the catalog dialogs: the dialog frame, entry fields, a Markdown editor
and the options of a new version."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from nicegui import ui
from pydantic import ValidationError

from aiplayground.catalog.schemas import NAME_PATTERN, Objective, Visibility
from aiplayground.ui.markdown import render_markdown
from aiplayground.ui.pages.catalog_common import OBJECTIVES

_NAME = re.compile(NAME_PATTERN)


def warn(message: str) -> None:
    """A form problem the user can fix."""
    ui.notify(message, type="warning", position="top")


def problem_text(exc: ValidationError) -> str:
    """The first problem of a pydantic error, as 'field: message'."""
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    message = str(first["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def slug(text: str) -> str:
    """A name suggestion from a title or a file name: 'My Model.onnx' -> 'my-model'."""
    stem = re.sub(r"\.(tar\.(gz|bz2|xz)|[A-Za-z0-9]{1,10})$", "", text.strip())
    cleaned = re.sub(r"[^a-z0-9._-]+", "-", stem.lower()).strip("-._")
    return cleaned[:128]


# dialogs -----------------------------------------------------------------------------


@dataclass
class DialogFrame:
    """A dialog with a header, a scrolling body and an action row."""

    dialog: ui.dialog
    body: ui.column
    actions: ui.row


@contextmanager
def dialog_frame(
    title: str, subtitle: str, testid: str, width: str = "46rem"
) -> Iterator[DialogFrame]:
    """Open a dialog; the caller fills `body` and `actions` inside the `with`."""
    with (
        ui.dialog().props("persistent") as dialog,
        ui.card()
        .classes("p-0 gap-0 max-w-full")
        .style(f"width: {width}")
        .props(f"data-testid={testid}"),
    ):
        with ui.row().classes("w-full items-start no-wrap px-6 pt-5 pb-3 gap-3"):
            with ui.column().classes("gap-0 grow"):
                ui.label(title).classes("text-xl font-semibold")
                if subtitle:
                    ui.label(subtitle).classes("text-sm aip-muted")
            ui.button(icon="close", on_click=dialog.close).props("flat round dense")
        ui.separator()
        body = (
            ui.column()
            .classes("w-full gap-4 px-6 py-5 overflow-auto")
            .style("max-height: calc(100vh - 12rem)")
        )
        ui.separator()
        actions = ui.row().classes("w-full justify-end items-center gap-2 px-6 py-3")
        with actions:
            ui.button("Cancel", on_click=dialog.close).props("flat no-caps")
        yield DialogFrame(dialog, body, actions)
    dialog.on("hide", dialog.delete)
    dialog.open()


def done(dialog: ui.dialog, message: str, target: str) -> None:
    """Say it worked, close the dialog and go to the new or changed entry."""
    ui.notify(message, type="positive", position="top")
    dialog.close()
    ui.navigate.to(target)


@contextmanager
def busy(button: ui.button) -> Iterator[None]:
    """Show a spinner on the button and block double clicks while the body runs."""
    button.props("loading")
    button.disable()
    try:
        yield
    finally:
        button.props(remove="loading")
        button.enable()


# fields ------------------------------------------------------------------------------


def markdown_editor(value: str = "", label: str = "Description") -> ui.textarea:
    """A Markdown text area with a rendered, sanitized preview a click away."""
    with ui.column().classes("w-full gap-1"):
        with ui.row().classes("w-full items-center gap-2"):
            ui.label(label).classes("text-sm font-medium")
            ui.label("Markdown").classes("text-xs aip-muted")
            ui.space()
            toggle = ui.button("Preview", icon="visibility").props(
                "flat dense no-caps size=sm data-testid=description-preview"
            )
        area = ui.textarea(value=value, placeholder="What it is, how it was made, how to use it")
        area.props("outlined autogrow maxlength=100000 data-testid=field-description")
        area.classes("w-full")
        preview = ui.html("", sanitize=True).classes(
            "aip-markdown aip-metric w-full min-h-[6rem] px-4 py-3"
        )
        preview.set_visibility(False)

    def flip() -> None:
        previewing = not preview.visible
        if previewing:
            preview.content = render_markdown(area.value or "") or "<p><em>Nothing yet.</em></p>"
        area.set_visibility(not previewing)
        preview.set_visibility(previewing)
        toggle.text = "Write" if previewing else "Preview"
        toggle.props(f"icon={'edit' if previewing else 'visibility'}")

    toggle.on_click(flip)
    return area


@dataclass
class EntryFields:
    """Name, title, objective, description, tags and visibility of a new entry."""

    name: ui.input
    title: ui.input
    description: ui.textarea
    tags: ui.input_chips
    visibility: ui.toggle
    objective: ui.select | None
    format: ui.select | None
    name_touched: bool = False

    def suggest_name(self, text: str) -> None:
        """Fill the name from a title or file name until the user types one."""
        if not self.name_touched and text:
            self.name.value = slug(text)

    def values(self) -> dict[str, Any]:
        """The fields as keyword arguments of ModelCreate, DatasetCreate or EndpointCreate."""
        values: dict[str, Any] = {
            "name": (self.name.value or "").strip(),
            "title": (self.title.value or "").strip(),
            "description": self.description.value or "",
            "tags": [str(t).strip() for t in self.tags.value or [] if str(t).strip()],
            "visibility": Visibility(self.visibility.value),
        }
        if self.objective is not None:
            values["objective"] = Objective(self.objective.value or Objective.OTHER.value)
        return values


def entry_fields(
    *,
    objective: Objective | None = None,
    formats: dict[str, str] | None = None,
    format_value: str | None = None,
) -> EntryFields:
    """Draw the common fields; `objective` None leaves the objective out (datasets), and
    `formats` adds a format choice."""
    with ui.element("div").classes("grid grid-cols-1 sm:grid-cols-2 gap-x-4 gap-y-2 w-full"):
        title = ui.input("Title", placeholder="A human-friendly title").props(
            "outlined dense maxlength=200 data-testid=field-title"
        )
        name = ui.input(
            "Name",
            placeholder="e.g. iris-classifier",
            validation={
                "1-128 of a-z, 0-9, '.', '_', '-'": lambda v: not v or bool(_NAME.match(v)),
            },
        ).props("outlined dense maxlength=128 data-testid=field-name input-class=aip-mono")
        name.tooltip("Unique on the platform; used in URLs and the KServe/OpenAI routes")
        select = None
        if objective is not None:
            select = ui.select(
                {o.value: label for o, (label, _, _) in OBJECTIVES.items()},
                label="Objective",
                value=objective.value,
            ).props("outlined dense options-dense data-testid=field-objective")
        format_select = None
        if formats is not None:
            format_select = ui.select(formats, label="Format", value=format_value).props(
                "outlined dense options-dense data-testid=field-format"
            )
    description = markdown_editor()
    tags = ui.input_chips("Tags", new_value_mode="add-unique", clearable=True).props(
        "outlined dense hint='Press Enter after each tag' data-testid=field-tags"
    )
    tags.classes("w-full")
    with ui.row().classes("items-center gap-3"):
        ui.label("Visibility").classes("text-sm font-medium")
        visibility = ui.toggle(
            {Visibility.PRIVATE.value: "Private", Visibility.PUBLIC.value: "Public"},
            value=Visibility.PRIVATE.value,
        ).props("no-caps unelevated toggle-color=primary data-testid=field-visibility")
        ui.label("Public entries are visible to every user.").classes("text-xs aip-muted")
    fields = EntryFields(name, title, description, tags, visibility, select, format_select)

    def typed(_: Any) -> None:
        fields.name_touched = True

    name.on("keydown", typed)
    title.on_value_change(lambda e: fields.suggest_name(e.value or ""))
    return fields


def parse_json_object(text: str, what: str) -> dict[str, Any] | None:
    """A JSON object typed by the user; warns and returns None when it is not one."""
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        warn(f"{what} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}")
        return None
    if not isinstance(value, dict):
        warn(f"{what} must be a JSON object {{...}}")
        return None
    return value


METADATA_EXAMPLE = """{
  "signature": {
    "inputs": [{"name": "input-0", "datatype": "FP64", "shape": [-1, 4]}],
    "outputs": [{"name": "output-0", "datatype": "INT64", "shape": [-1]}]
  },
  "example": {"instances": [[5.1, 3.5, 1.4, 0.2]]},
  "metrics": {"accuracy": 0.97},
  "lineage": {"dataset": "iris-data", "dataset_version": 1}
}"""


@dataclass
class VersionOptions:
    """What is said about a new model version besides its files."""

    extract: ui.switch
    alias: ui.input | None
    note: ui.input
    details: ui.textarea | None

    def metadata(self) -> dict[str, Any] | None:
        """The VersionMetadata fields as a dict; None (after a warning) when the JSON is bad."""
        values: dict[str, Any] = {}
        if self.details is not None:
            parsed = parse_json_object(self.details.value or "", "The version metadata")
            if parsed is None:
                return None
            values.update(parsed)
        values["extract"] = bool(self.extract.value)
        if self.alias is not None and (self.alias.value or "").strip():
            values["alias"] = self.alias.value.strip()
        if (self.note.value or "").strip():
            values["description"] = self.note.value.strip()
        return values


def version_options(*, model: bool = True) -> VersionOptions:
    """Draw the version options: archive extraction, a note, and for models an alias and
    the signature/example/metrics JSON."""
    extract = ui.switch("Unpack .zip/.tar archives into files").props("data-testid=field-extract")
    with ui.element("div").classes("grid grid-cols-1 sm:grid-cols-3 gap-x-4 gap-y-2 w-full"):
        note = ui.input("Version note", placeholder="What changed in this version").props(
            "outlined dense maxlength=2000 data-testid=field-version-note"
        )
        note.classes("sm:col-span-2" if model else "sm:col-span-3")
        alias = None
        if model:
            alias = ui.input("Alias", placeholder="e.g. production").props(
                "outlined dense maxlength=64 data-testid=field-alias"
            )
    details = None
    if model:
        with (
            ui.expansion("Signature, example and metrics (JSON)", icon="data_object")
            .classes("w-full aip-metric")
            .props("dense data-testid=field-metadata-toggle")
        ):
            ui.label(
                "Optional. The signature validates requests and prefills the Inference page; "
                "the example is a request body that works."
            ).classes("text-xs aip-muted")
            details = ui.textarea(placeholder=METADATA_EXAMPLE).props(
                "outlined autogrow input-class=aip-mono data-testid=field-metadata"
            )
            details.classes("w-full")
    return VersionOptions(extract, alias, note, details)
