"""Changing an entry: edit its card, upload a new version, move aliases, delete it."""

from __future__ import annotations

import asyncio
from typing import Any

from nicegui import ui
from pydantic import ValidationError

from aiplayground.catalog.schemas import (
    DatasetInfo,
    DatasetUpdate,
    DatasetVersionMetadata,
    ModelFormat,
    ModelInfo,
    ModelUpdate,
    Objective,
    VersionMetadata,
    Visibility,
)
from aiplayground.errors import PlaygroundError
from aiplayground.ui.pages.catalog_common import OBJECTIVES, Kind, detail_path, list_path
from aiplayground.ui.pages.catalog_forms import (
    busy,
    dialog_frame,
    markdown_editor,
    problem_text,
    version_options,
    warn,
)
from aiplayground.ui.pages.catalog_upload import StagedUploads
from aiplayground.ui.shell import PageContext, show_error

Entry = ModelInfo | DatasetInfo


def _noun(kind: Kind) -> str:
    return "model" if kind == "models" else "dataset"


def edit_dialog(ctx: PageContext, kind: Kind, entry: Entry) -> None:
    """Edit the title, description, tags and visibility (and for models the objective and,
    for admins, trust)."""
    with dialog_frame(f"Edit {entry.name}", "", "edit-dialog") as frame, frame.body:
        with ui.element("div").classes("grid grid-cols-1 sm:grid-cols-2 gap-x-4 gap-y-2 w-full"):
            title = ui.input("Title", value=entry.title).props(
                "outlined dense maxlength=200 data-testid=field-title"
            )
            objective = None
            if isinstance(entry, ModelInfo):
                objective = ui.select(
                    {o.value: label for o, (label, _, _) in OBJECTIVES.items()},
                    label="Objective",
                    value=entry.objective.value,
                ).props("outlined dense options-dense data-testid=field-objective")
        description = markdown_editor(entry.description)
        tags = ui.input_chips(
            "Tags", value=list(entry.tags), new_value_mode="add-unique", clearable=True
        ).props("outlined dense hint='Press Enter after each tag' data-testid=field-tags")
        tags.classes("w-full")
        with ui.row().classes("items-center gap-3"):
            ui.label("Visibility").classes("text-sm font-medium")
            visibility = ui.toggle(
                {Visibility.PRIVATE.value: "Private", Visibility.PUBLIC.value: "Public"},
                value=entry.visibility.value,
            ).props("no-caps unelevated toggle-color=primary data-testid=field-visibility")
        trusted = None
        if (
            isinstance(entry, ModelInfo)
            and ctx.principal.is_admin
            and entry.format is not ModelFormat.REMOTE
        ):
            trusted = ui.switch(
                "Trusted: allow pickle and formats that run code on load", value=entry.trusted
            ).props("data-testid=field-trusted")

    async def save() -> None:
        changes = {
            "title": (title.value or "").strip(),
            "description": description.value or "",
            "tags": [str(t).strip() for t in tags.value or [] if str(t).strip()],
            "visibility": Visibility(visibility.value),
        }
        try:
            patch: ModelUpdate | DatasetUpdate
            if isinstance(entry, ModelInfo):
                extra: dict[str, Any] = {}
                if objective is not None:
                    extra["objective"] = Objective(objective.value)
                if trusted is not None and bool(trusted.value) != entry.trusted:
                    extra["trusted"] = bool(trusted.value)
                patch = ModelUpdate(**changes, **extra)
            else:
                patch = DatasetUpdate(**changes)
        except ValidationError as exc:
            warn(problem_text(exc))
            return
        with busy(button):
            try:
                principal = ctx.current_principal()
                if isinstance(patch, ModelUpdate):
                    await asyncio.to_thread(
                        ctx.platform.models.update, principal, entry.name, patch
                    )
                else:
                    await asyncio.to_thread(
                        ctx.platform.datasets.update, principal, entry.name, patch
                    )
            except PlaygroundError as exc:
                show_error(exc)
                return
        ui.notify("Saved", type="positive", position="top")
        frame.dialog.close()
        ui.navigate.reload()

    with frame.actions:
        button = ui.button("Save", icon="check", on_click=save).props(
            "unelevated no-caps data-testid=edit-save"
        )


def delete_dialog(ctx: PageContext, kind: Kind, entry: Entry) -> None:
    """Delete after the user types the entry's name."""
    noun = _noun(kind)
    count = len(entry.versions)
    with (
        dialog_frame(f"Delete {noun} {entry.name}?", "", "delete-dialog", width="34rem") as frame,
        frame.body,
    ):
        what = f"its {count} version{'s' if count != 1 else ''} and their files"
        ui.label(
            f"This deletes the {noun}, {what}. Programs and pages that use it stop working. "
            "It cannot be undone."
        )
        with ui.column().classes("w-full gap-1"):
            with ui.row().classes("items-center gap-1 text-sm"):
                ui.label("Type")
                ui.label(entry.name).classes("aip-mono font-semibold")
                ui.label("to confirm:")
            typed = ui.input(placeholder=entry.name).props(
                "outlined dense autofocus autocomplete=off data-testid=delete-confirm-name"
            )
            typed.classes("w-full")

    async def delete() -> None:
        if (typed.value or "").strip() != entry.name:
            warn(f"Type {entry.name} to confirm.")
            return
        service = ctx.platform.models if kind == "models" else ctx.platform.datasets
        with busy(button):
            try:
                await asyncio.to_thread(service.delete, ctx.current_principal(), entry.name)
            except PlaygroundError as exc:
                show_error(exc)
                return
        ui.notify(f"Deleted {noun} {entry.name}", type="positive", position="top")
        frame.dialog.close()
        ui.navigate.to(list_path(kind))

    with frame.actions:
        button = ui.button("Delete", icon="delete", on_click=delete).props(
            "unelevated no-caps color=negative data-testid=delete-confirm"
        )
        button.disable()
    typed.on_value_change(lambda e: button.set_enabled((e.value or "").strip() == entry.name))


def new_version_dialog(ctx: PageContext, kind: Kind, entry: Entry) -> None:
    """Upload files as the entry's next version."""
    number = (entry.latest_version or 0) + 1
    with (
        dialog_frame(
            f"New version of {entry.name}",
            f"The files become version {number}; earlier versions stay as they are.",
            "version-dialog",
        ) as frame,
        frame.body,
    ):
        staged = StagedUploads(ctx)
        options = version_options(model=kind == "models")

    async def submit() -> None:
        values = options.metadata()
        if values is None:
            return
        try:
            meta: VersionMetadata | DatasetVersionMetadata
            if kind == "models":
                meta = VersionMetadata.model_validate(values)
            else:
                meta = DatasetVersionMetadata.model_validate(values)
        except ValidationError as exc:
            warn(problem_text(exc))
            return
        files = await staged.ready()
        if files is None:
            return
        if not files:
            warn("Add at least one file.")
            return
        with busy(button):
            try:
                principal = ctx.current_principal()
                if isinstance(meta, VersionMetadata):
                    version = await asyncio.to_thread(
                        ctx.platform.models.add_version, principal, entry.name, files, meta
                    )
                    added = version.version
                else:
                    dataset_version = await asyncio.to_thread(
                        ctx.platform.datasets.add_version, principal, entry.name, files, meta
                    )
                    added = dataset_version.version
            except PlaygroundError as exc:
                show_error(exc)
                return
        ui.notify(f"Version {added} added", type="positive", position="top")
        frame.dialog.close()
        ui.navigate.to(f"{detail_path(kind, entry.name)}?version={added}")

    with frame.actions:
        button = ui.button("Upload version", icon="upload", on_click=submit).props(
            "unelevated no-caps data-testid=version-submit"
        )
    frame.dialog.on("hide", staged.discard)


def alias_button(ctx: PageContext, model: ModelInfo, number: int) -> None:
    """A small button that opens the alias dialog of this version."""
    ui.button(icon="bookmark_add", on_click=lambda: alias_dialog(ctx, model, number)).props(
        "flat round dense size=sm color=grey-7 data-testid=alias-edit"
    ).tooltip("Aliases of this version")


def alias_dialog(ctx: PageContext, model: ModelInfo, number: int) -> None:
    """Point an alias (production, staging, ...) at this version, or remove one."""
    here = sorted(a for a, v in model.aliases.items() if v == number)
    elsewhere = sorted((a, v) for a, v in model.aliases.items() if v != number)
    with (
        dialog_frame(
            f"Aliases of version {number}",
            "Requests without a version use 'production', else the latest version.",
            "alias-dialog",
            width="32rem",
        ) as frame,
        frame.body,
    ):
        with ui.row().classes("w-full items-center gap-2"):
            ui.label("Here:").classes("text-sm aip-muted")
            for alias in here:
                ui.button(alias, icon="close", on_click=lambda a=alias: remove(a)).props(
                    "outline dense no-caps size=sm data-testid=alias-remove"
                ).tooltip(f"Remove alias {alias}")
            if not here:
                ui.label("none").classes("text-sm aip-muted")
        if elsewhere:
            ui.label("Elsewhere: " + ", ".join(f"{a} → v{v}" for a, v in elsewhere)).classes(
                "text-sm aip-muted"
            )
        name = ui.input("Alias", placeholder="e.g. production, staging").props(
            "outlined dense maxlength=64 autofocus data-testid=alias-name"
        )
        name.classes("w-full")

    async def point() -> None:
        alias = (name.value or "").strip()
        if not alias:
            warn("Type an alias.")
            return
        try:
            await asyncio.to_thread(
                ctx.platform.models.set_alias, ctx.current_principal(), model.name, alias, number
            )
        except PlaygroundError as exc:
            show_error(exc)
            return
        ui.notify(f"{alias} now points at version {number}", type="positive", position="top")
        frame.dialog.close()
        ui.navigate.reload()

    async def remove(alias: str) -> None:
        try:
            await asyncio.to_thread(
                ctx.platform.models.delete_alias, ctx.current_principal(), model.name, alias
            )
        except PlaygroundError as exc:
            show_error(exc)
            return
        ui.notify(f"Removed alias {alias}", position="top")
        frame.dialog.close()
        ui.navigate.reload()

    name.on("keydown.enter", point)
    with frame.actions:
        ui.button("Point here", icon="bookmark_add", on_click=point).props(
            "unelevated no-caps data-testid=alias-set"
        )
