"""The Add menu: upload a model, register a Hugging Face snapshot or a remote endpoint,
upload a dataset. Each dialog validates with the service's own schemas, runs the service
off the event loop, and opens the new entry's page when it is done."""

from __future__ import annotations

import asyncio
import posixpath
from collections.abc import Callable
from contextlib import suppress

from nicegui import ui
from pydantic import ValidationError

from aiplayground.catalog.schemas import (
    DatasetCreate,
    DatasetFormat,
    DatasetVersionMetadata,
    ModelCreate,
    ModelFormat,
    ModelUpdate,
    Objective,
    VersionMetadata,
)
from aiplayground.errors import PlaygroundError
from aiplayground.ui.pages.catalog_common import (
    DATASET_FORMATS,
    MODEL_FORMATS,
    Kind,
    detail_path,
)
from aiplayground.ui.pages.catalog_endpoint import endpoint_dialog
from aiplayground.ui.pages.catalog_forms import (
    busy,
    dialog_frame,
    done,
    entry_fields,
    problem_text,
    version_options,
    warn,
)
from aiplayground.ui.pages.catalog_upload import StagedUploads
from aiplayground.ui.shell import PageContext, show_error

ARCHIVES = ".zip,.tar,.tgz,.gz,.bz2,.xz"
SUFFIX_FORMATS = {
    ".skops": ModelFormat.SKLEARN,
    ".onnx": ModelFormat.ONNX,
    ".gguf": ModelFormat.GGUF,
    ".keras": ModelFormat.KERAS,
    ".safetensors": ModelFormat.PYTORCH,
    ".ubj": ModelFormat.XGBOOST,
}


def add_menu(ctx: PageContext) -> None:
    """The 'Add' button of the catalog, with one entry per way of registering."""
    with (
        ui.button("Add", icon="add").props("unelevated no-caps data-testid=catalog-add"),
        ui.menu()
        .props("auto-close anchor='bottom right' self='top right'")
        .classes("min-w-[22rem]"),
    ):
        for label, caption, icon, open_dialog, testid in _ACTIONS:
            with ui.item(on_click=lambda f=open_dialog: f(ctx)).props(
                f"clickable data-testid={testid}"
            ):
                with ui.item_section().props("avatar"):
                    ui.icon(icon).classes("text-primary")
                with ui.item_section():
                    ui.item_label(label)
                    ui.item_label(caption).props("caption")


def add_buttons(ctx: PageContext, kind: Kind) -> None:
    """The Add actions as buttons (for an empty catalog)."""
    with ui.row().classes("justify-center gap-2 mt-2"):
        for label, _, icon, open_dialog, testid in _ACTIONS:
            if (kind == "datasets") == (testid == "add-dataset"):
                ui.button(label, icon=icon, on_click=lambda f=open_dialog: f(ctx)).props(
                    f"outline no-caps data-testid=empty-{testid}"
                )


# models --------------------------------------------------------------------------------


def upload_model_dialog(ctx: PageContext) -> None:
    """Upload model files (skops, ONNX, GGUF, ...) as version 1 of a new model."""
    with (
        dialog_frame(
            "Upload a model",
            "Files from your computer become version 1. Safe formats are accepted as they are.",
            "add-model-dialog",
        ) as frame,
        frame.body,
    ):
        fields = entry_fields(
            objective=Objective.CLASSIFICATION,
            formats={
                f.value: label for f, label in MODEL_FORMATS.items() if f is not ModelFormat.REMOTE
            },
        )
        fmt = fields.format
        assert fmt is not None

        def added(name: str) -> None:
            if not fields.name.value:
                fields.suggest_name(name)
            suffix = posixpath.splitext(name.lower())[1]
            if fmt.value is None and suffix in SUFFIX_FORMATS:
                fmt.value = SUFFIX_FORMATS[suffix].value

        ui.label("Files").classes("text-sm font-medium")
        staged = StagedUploads(ctx, on_added=added)
        options = version_options()
        trusted = None
        if ctx.principal.is_admin:
            trusted = ui.switch("Trusted: allow pickle and formats that run code on load")
            trusted.props("data-testid=field-trusted")

    async def submit() -> None:
        if not fmt.value:
            warn("Choose the model's format.")
            return
        meta = options.metadata()
        if meta is None:
            return
        try:
            spec = ModelCreate(**fields.values(), format=ModelFormat(fmt.value))
            version = VersionMetadata.model_validate(meta)
        except ValidationError as exc:
            warn(problem_text(exc))
            return
        await _create_model(
            ctx, frame.dialog, button, staged, spec, version, bool(trusted and trusted.value)
        )

    with frame.actions:
        button = ui.button("Upload model", icon="upload", on_click=submit).props(
            "unelevated no-caps data-testid=add-submit"
        )
    frame.dialog.on("hide", staged.discard)


def huggingface_dialog(ctx: PageContext) -> None:
    """Register a Hugging Face model from a snapshot folder packed as an archive."""
    with (
        dialog_frame(
            "Register a Hugging Face model",
            "From a local snapshot: no Hugging Face Hub access is needed or used.",
            "add-hf-dialog",
        ) as frame,
        frame.body,
    ):
        fields = entry_fields(objective=Objective.TEXT_GENERATION)
        ui.label("Snapshot archive").classes("text-sm font-medium")
        ui.label(
            "Pack the snapshot folder (config.json, tokenizer files, *.safetensors) as a zip "
            "or tar, following links: `cd snapshots/<revision> && zip -r ../model.zip .` "
            "or `tar -chzf model.tar.gz -C snapshots/<revision> .`. Weights must be "
            "safetensors; models that need remote code are refused unless trusted."
        ).classes("text-xs aip-muted")
        staged = StagedUploads(
            ctx,
            multiple=True,
            accept=ARCHIVES,
            label="Drop the .zip or .tar.gz here or click +",
            on_added=lambda name: None if fields.name.value else fields.suggest_name(name),
        )

    async def submit() -> None:
        try:
            spec = ModelCreate(**fields.values(), format=ModelFormat.HUGGINGFACE)
        except ValidationError as exc:
            warn(problem_text(exc))
            return
        meta = VersionMetadata(extract=True, description="Hugging Face snapshot")
        await _create_model(ctx, frame.dialog, button, staged, spec, meta, trusted=False)

    with frame.actions:
        button = ui.button("Register model", icon="upload", on_click=submit).props(
            "unelevated no-caps data-testid=add-submit"
        )
    frame.dialog.on("hide", staged.discard)


async def _create_model(
    ctx: PageContext,
    dialog: ui.dialog,
    button: ui.button,
    staged: StagedUploads,
    spec: ModelCreate,
    meta: VersionMetadata,
    trusted: bool,
) -> None:
    """Create the entry and its first version; a refused version removes the new entry."""
    files = await staged.ready()
    if files is None:
        return
    if not files:
        warn("Add at least one file.")
        return
    models = ctx.platform.models
    with busy(button):
        try:
            principal = ctx.current_principal()
            await asyncio.to_thread(models.create, principal, spec)
        except PlaygroundError as exc:
            show_error(exc)
            return
        try:
            if trusted:
                await asyncio.to_thread(
                    models.update, principal, spec.name, ModelUpdate(trusted=True)
                )
            await asyncio.to_thread(models.add_version, principal, spec.name, files, meta)
        except PlaygroundError as exc:
            # Nothing half-made stays behind: the user fixes the files and tries again.
            with suppress(PlaygroundError):
                await asyncio.to_thread(models.delete, principal, spec.name)
            show_error(exc)
            return
    done(dialog, f"Model {spec.name} added", detail_path("models", spec.name))


# datasets ------------------------------------------------------------------------------


def dataset_dialog(ctx: PageContext) -> None:
    """Upload dataset files (CSV, Parquet, JSON, ROOT, documents) as version 1."""
    with (
        dialog_frame(
            "Upload a dataset",
            "The platform reads the schema and the first rows so others can see what is inside.",
            "add-dataset-dialog",
        ) as frame,
        frame.body,
    ):
        fields = entry_fields(
            formats={f.value: label for f, (label, _, _) in DATASET_FORMATS.items()},
            format_value=DatasetFormat.CSV.value,
        )
        fmt = fields.format
        assert fmt is not None
        ui.label("Files").classes("text-sm font-medium")
        staged = StagedUploads(
            ctx, on_added=lambda name: None if fields.name.value else fields.suggest_name(name)
        )
        extract = ui.switch("Unpack .zip/.tar archives into files").props(
            "data-testid=field-extract"
        )

    async def submit() -> None:
        try:
            spec = DatasetCreate(**fields.values(), format=DatasetFormat(fmt.value))
        except ValidationError as exc:
            warn(problem_text(exc))
            return
        files = await staged.ready()
        if files is None:
            return
        if not files:
            warn("Add at least one file.")
            return
        datasets = ctx.platform.datasets
        meta = DatasetVersionMetadata(extract=bool(extract.value))
        with busy(button):
            try:
                principal = ctx.current_principal()
                await asyncio.to_thread(datasets.create, principal, spec)
            except PlaygroundError as exc:
                show_error(exc)
                return
            try:
                await asyncio.to_thread(datasets.add_version, principal, spec.name, files, meta)
            except PlaygroundError as exc:
                with suppress(PlaygroundError):
                    await asyncio.to_thread(datasets.delete, principal, spec.name)
                show_error(exc)
                return
        done(frame.dialog, f"Dataset {spec.name} added", detail_path("datasets", spec.name))

    with frame.actions:
        button = ui.button("Upload dataset", icon="upload", on_click=submit).props(
            "unelevated no-caps data-testid=add-submit"
        )
    frame.dialog.on("hide", staged.discard)


_ACTIONS: list[tuple[str, str, str, Callable[[PageContext], None], str]] = [
    (
        "Upload a model",
        "skops, ONNX, XGBoost, LightGBM, Keras, PyTorch, GGUF files",
        "upload_file",
        upload_model_dialog,
        "add-model",
    ),
    (
        "Hugging Face snapshot",
        "A snapshot folder packed as .zip or .tar.gz",
        "hub",
        huggingface_dialog,
        "add-hf",
    ),
    (
        "Remote endpoint",
        "KServe v1/v2 or OpenAI-compatible server",
        "cloud",
        endpoint_dialog,
        "add-endpoint",
    ),
    (
        "Upload a dataset",
        "CSV, Parquet, JSON, ROOT or documents",
        "dataset",
        dataset_dialog,
        "add-dataset",
    ),
]
