"""Model and dataset cards for the catalog grid: what it is, where it runs, who owns it."""

from __future__ import annotations

from datetime import datetime

from nicegui import ui

from aiplayground.catalog.schemas import DatasetInfo, ModelFormat, ModelInfo, Visibility
from aiplayground.ui.markdown import markdown_excerpt
from aiplayground.ui.pages.catalog_common import (
    DATASET_FORMATS,
    MODEL_FORMATS,
    OBJECTIVES,
    PROTOCOLS,
    SERVED_FORMATS,
    Kind,
    ago,
    chip,
    detail_path,
    host_of,
)
from aiplayground.ui.shell import when

MAX_CARD_TAGS = 4


def model_card(model: ModelInfo) -> None:
    """One model as a card linking to its page."""
    label, icon, accent = OBJECTIVES[model.objective]
    with _card_frame("models", model.name):
        _heading(model.title, model.name, icon, accent, model.visibility)
        with ui.row().classes("items-center gap-1.5"):
            chip(label, accent=accent, testid="card-objective")
            chip(MODEL_FORMATS[model.format], "layers", testid="card-format")
            if model.endpoint is not None:
                chip(
                    f"{host_of(model.endpoint.url)} · {PROTOCOLS[model.endpoint.protocol]}",
                    "cloud",
                    testid="card-host",
                    tooltip=model.endpoint.url,
                )
            elif model.format in SERVED_FORMATS and model.latest_version is not None:
                chip("Served here · KServe v1/v2", "dns", testid="card-host")
        _excerpt(model.description)
        _tags(model.tags)
        if model.format is ModelFormat.REMOTE:
            versions = "remote"
        elif model.latest_version is None:
            versions = "no versions"
        else:
            versions = f"v{model.latest_version}"
        _footer(versions, model.owner, model.updated_at)


def dataset_card(dataset: DatasetInfo) -> None:
    """One dataset as a card linking to its page."""
    label, icon, accent = DATASET_FORMATS[dataset.format]
    with _card_frame("datasets", dataset.name):
        _heading(dataset.title, dataset.name, icon, accent, dataset.visibility)
        with ui.row().classes("items-center gap-1.5"):
            chip(label, accent=accent, testid="card-format")
        _excerpt(dataset.description)
        _tags(dataset.tags)
        versions = f"v{dataset.latest_version}" if dataset.latest_version else "no versions"
        _footer(versions, dataset.owner, dataset.updated_at)


def _card_frame(kind: Kind, name: str) -> ui.card:
    link = ui.link(target=detail_path(kind, name)).classes("no-underline text-inherit block")
    link.props(f"data-testid=catalog-card data-entry={name}")
    with link:
        return ui.card().classes("aip-card aip-entry w-full p-4 gap-3")


def _heading(title: str, name: str, icon: str, accent: str, visibility: Visibility) -> None:
    with ui.row().classes("w-full items-start gap-3 no-wrap"):
        with ui.element("div").classes("aip-avatar").style(f"--aip-accent: {accent}"):
            ui.icon(icon, size="1.4rem")
        with ui.column().classes("gap-0 min-w-0 grow"):
            ui.label(title).classes("text-base font-semibold leading-snug line-clamp-2").props(
                "data-testid=card-title"
            )
            ui.label(name).classes("aip-mono text-xs aip-muted truncate w-full").props(
                "data-testid=card-name"
            )
        public = visibility is Visibility.PUBLIC
        with ui.icon("public" if public else "lock", size="1.1rem").classes("aip-muted mt-1"):
            ui.tooltip("Public: every user can see it" if public else "Private to its owner")


def _excerpt(description: str) -> None:
    text = markdown_excerpt(description) or "No description."
    ui.label(text).classes("text-sm aip-muted line-clamp-3 leading-relaxed").props(
        "data-testid=card-description"
    )


def _tags(tags: list[str]) -> None:
    if not tags:
        return
    with ui.row().classes("items-center gap-1"):
        for tag in tags[:MAX_CARD_TAGS]:
            chip(tag, outline=True, testid="card-tag")
        if len(tags) > MAX_CARD_TAGS:
            chip(f"+{len(tags) - MAX_CARD_TAGS}", outline=True, tooltip=", ".join(tags))


def _footer(versions: str, owner: str, updated: datetime) -> None:
    ui.space()
    with ui.row().classes("w-full items-center gap-3 text-xs aip-muted no-wrap pt-1"):
        with ui.row().classes("items-center gap-1 no-wrap whitespace-nowrap"):
            ui.icon("history", size="1rem")
            ui.label(versions).props("data-testid=card-version")
        with ui.row().classes("items-center gap-1 no-wrap min-w-0"):
            ui.icon("person_outline", size="1rem")
            ui.label(owner).classes("truncate")
        ui.space()
        with ui.row().classes("items-center gap-1 no-wrap whitespace-nowrap"):
            ui.icon("schedule", size="1rem")
            ui.label(ago(updated)).tooltip(f"Updated {when(updated)}")
