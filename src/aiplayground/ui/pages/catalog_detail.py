"""What the model and dataset pages share: breadcrumbs, the header, the facts card, files."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace

from nicegui import ui

from aiplayground.catalog.schemas import DatasetInfo, ModelInfo, PublicFile
from aiplayground.ui.pages.catalog_common import (
    Kind,
    chip,
    copy_button,
    download_url,
    human_size,
    list_path,
    section_title,
    visibility_chip,
)
from aiplayground.ui.shell import NAV, NavItem, when

Entry = ModelInfo | DatasetInfo


def sub_page(path: str) -> NavItem:
    """A page under /catalog that keeps Catalog highlighted in the navigation."""
    return replace(NAV["catalog"], path=path)


def breadcrumbs(kind: Kind, name: str) -> None:
    """Catalog / Models / name."""
    with ui.row().classes("aip-crumbs items-center gap-1 text-sm aip-muted -mb-3"):
        ui.link("Catalog", "/catalog")
        ui.icon("chevron_right", size="1rem")
        ui.link(kind.capitalize(), list_path(kind))
        ui.icon("chevron_right", size="1rem")
        ui.label(name).classes("aip-mono")


def header(
    kind: Kind,
    entry: Entry,
    icon: str,
    accent: str,
    chips: Callable[[], None],
    actions: Callable[[], None] | None,
) -> None:
    """Avatar, title, name with a copy button, chips and tags, and the owner's actions
    (beside the title on wide screens, under it on narrow ones)."""
    with ui.row().classes("w-full items-start gap-4"):
        with ui.row().classes("items-start gap-4 no-wrap grow basis-[28rem] min-w-0"):
            with (
                ui.element("div")
                .classes("aip-avatar")
                .style(
                    f"--aip-accent: {accent}; width: 3.4rem; height: 3.4rem; border-radius: 1rem"
                )
            ):
                ui.icon(icon, size="1.9rem")
            with ui.column().classes("gap-1 min-w-0 grow"):
                ui.label(entry.title).classes(
                    "text-3xl font-semibold leading-tight break-words"
                ).props('data-testid=page-title role=heading aria-level="1"')
                with ui.row().classes("items-center gap-1 no-wrap"):
                    ui.label(entry.name).classes("aip-mono text-sm aip-muted").props(
                        "data-testid=entry-name"
                    )
                    copy_button(entry.name, "Name")
                with ui.row().classes("items-center gap-1.5 mt-1"):
                    chips()
                    visibility_chip(entry.visibility)
                    for tag in entry.tags:
                        with ui.link(target=list_path(kind, tag=tag)).classes("no-underline"):
                            chip(tag, "sell", outline=True, testid="entry-tag")
        if actions is not None:
            with ui.row().classes("items-center gap-2 ml-auto"):
                actions()


@contextmanager
def side_card(title: str, testid: str) -> Iterator[None]:
    """A small card of the right-hand column."""
    with ui.card().classes("aip-card w-full p-5 gap-3").props(f"data-testid={testid}"):
        section_title(title)
        yield


def facts(rows: list[tuple[str, str]]) -> None:
    """Key-value lines (drawn as text)."""
    with ui.element("div").classes("aip-kv w-full"):
        for key, value in rows:
            ui.label(key).classes("aip-k")
            ui.label(value).classes("break-all")


def entry_facts(entry: Entry, extra: list[tuple[str, str]]) -> None:
    """Owner, dates and versions, plus what the kind adds."""
    versions = ", ".join(f"v{n}" for n in entry.versions[-8:]) or "none yet"
    if len(entry.versions) > 8:
        versions = "… " + versions
    facts(
        [
            ("Owner", entry.owner),
            *extra,
            ("Versions", versions),
            ("Created", when(entry.created_at)),
            ("Updated", when(entry.updated_at)),
        ]
    )


def files_list(kind: Kind, name: str, version: int, files: list[PublicFile]) -> None:
    """The files of a version: path, size, sha256 (or the URL of a remote file), download."""
    with ui.column().classes("w-full gap-0 aip-table").props("data-testid=version-files"):
        for index, item in enumerate(files):
            if index:
                ui.separator()
            with (
                ui.row()
                .classes("w-full items-center gap-3 px-4 py-2.5 no-wrap")
                .props("data-testid=version-file")
            ):
                ui.icon("insert_drive_file", size="1.2rem").classes("aip-muted")
                with ui.column().classes("gap-0 min-w-0 grow"):
                    ui.label(item.path).classes("aip-mono text-sm break-all").props(
                        "data-testid=file-path"
                    )
                    with ui.row().classes("items-center gap-1 no-wrap"):
                        if item.url:
                            # A remote file: where it is read from, no stored checksum.
                            ui.label(item.url).classes(
                                "aip-mono text-xs aip-muted break-all"
                            ).props("data-testid=file-url")
                            copy_button(item.url, "URL")
                        else:
                            ui.label(f"sha256 {item.sha256[:16]}…").classes(
                                "aip-mono text-xs aip-muted"
                            ).props(f"title={item.sha256}")
                            copy_button(item.sha256, "SHA-256")
                ui.label(human_size(item.size)).classes(
                    "text-sm aip-muted whitespace-nowrap"
                ).props("data-testid=file-size")
                url = download_url(kind, name, version, item.path)
                ui.button(icon="download").props(
                    f'flat round dense color=primary href="{url}" download '
                    "data-testid=file-download"
                ).tooltip("Download")
        if not files:
            ui.label("No files.").classes("aip-muted px-4 py-3")
