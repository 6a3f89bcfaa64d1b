"""/catalog/datasets/{name}: the description, schema, first rows and files of a dataset;
for ROOT files, trees, branch summaries and multiplicity histograms too."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nicegui import ui

from aiplayground.catalog.schemas import DatasetInfo
from aiplayground.errors import NotFound, PlaygroundError
from aiplayground.ui.pages import catalog_edit
from aiplayground.ui.pages.catalog_common import (
    DATASET_FORMATS,
    can_change,
    chip,
    copy_button,
    download_url,
    markdown_view,
    not_found,
    pre_block,
    section_title,
)
from aiplayground.ui.pages.catalog_detail import (
    breadcrumbs,
    entry_facts,
    header,
    side_card,
    sub_page,
)
from aiplayground.ui.pages.catalog_root import RootSection, has_root_files
from aiplayground.ui.pages.catalog_style import add_style
from aiplayground.ui.pages.catalog_versions import dataset_version_panel
from aiplayground.ui.shell import PRODUCT, PageContext, show_error, signed_in_page

if TYPE_CHECKING:
    from aiplayground.app import Platform


def register(platform: Platform) -> None:
    """Register the dataset page."""

    @signed_in_page(platform, sub_page("/catalog/datasets/{name}"))
    async def dataset_page(ctx: PageContext) -> None:
        await DatasetPage(ctx, ctx.request.path_params["name"]).draw()


class DatasetPage:
    """One dataset: header, description, the chosen version's schema and preview, facts."""

    def __init__(self, ctx: PageContext, name: str) -> None:
        self.ctx = ctx
        self.name = name

    async def draw(self) -> None:
        add_style()
        breadcrumbs("datasets", self.name)
        try:
            info = self.ctx.platform.datasets.get(self.ctx.principal, self.name)
        except NotFound:
            not_found("datasets", self.name)
            return
        self.info = info
        ui.page_title(f"{info.title} · {PRODUCT}")
        label, icon, accent = DATASET_FORMATS[info.format]
        editable = can_change(self.ctx.principal, info)

        def chips() -> None:
            chip(label, accent=accent, testid="entry-format")

        header("datasets", info, icon, accent, chips, self.actions if editable else None)
        with ui.element("div").classes("grid grid-cols-1 lg:grid-cols-3 gap-6 w-full items-start"):
            with ui.column().classes("lg:col-span-2 gap-6 min-w-0"):
                with ui.card().classes("aip-card w-full p-6 gap-3"):
                    section_title("About this dataset")
                    if info.description.strip():
                        await markdown_view(info.description, testid="dataset-card")
                    else:
                        ui.label("No description yet.").classes("aip-muted")
                self.versions_card()
            with ui.column().classes("gap-6 min-w-0"):
                with side_card("About", "dataset-facts"):
                    entry_facts(info, [("Format", label)])
                self.usage(info)

    def actions(self) -> None:
        ctx, info = self.ctx, self.info
        ui.button(
            "New version",
            icon="upload",
            on_click=lambda: catalog_edit.new_version_dialog(ctx, "datasets", info),
        ).props("outline no-caps data-testid=entry-new-version")
        ui.button(
            "Edit", icon="edit", on_click=lambda: catalog_edit.edit_dialog(ctx, "datasets", info)
        ).props("outline no-caps data-testid=entry-edit")
        ui.button(
            icon="delete", on_click=lambda: catalog_edit.delete_dialog(ctx, "datasets", info)
        ).props("outline color=negative data-testid=entry-delete").tooltip("Delete")

    def versions_card(self) -> None:
        info = self.info
        with ui.card().classes("aip-card w-full p-6 gap-4").props("data-testid=versions-card"):
            if not info.versions:
                section_title("Versions")
                ui.label("No versions yet: upload files as version 1.").classes("aip-muted")
                return
            wanted = self.ctx.request.query_params.get("version", "")
            number = int(wanted) if wanted.isdigit() and int(wanted) in info.versions else None
            with ui.row().classes("w-full items-center"):
                section_title(f"Versions ({len(info.versions)})")
                ui.space()
                ui.select(
                    {n: f"v{n}" for n in reversed(info.versions)},
                    value=number or info.versions[-1],
                    on_change=lambda e: self.show(e.value),
                ).props("outlined dense options-dense data-testid=version-select").classes(
                    "min-w-[8rem]"
                )
            self.panel = ui.column().classes("w-full")
            self.show(number or info.versions[-1], replace_url=number is not None)

    def show(self, number: int, replace_url: bool = True) -> None:
        self.panel.clear()
        try:
            version = self.ctx.platform.datasets.get_version(
                self.ctx.current_principal(), self.name, number
            )
        except PlaygroundError as exc:
            show_error(exc)
            return
        self.version = version
        if replace_url:
            ui.navigate.history.replace(f"{self.ctx.request.url.path}?version={number}")
        with self.panel:
            dataset_version_panel(version)
            if has_root_files([f.path for f in version.files]):
                RootSection(self.ctx, self.name, version.version)

    def usage(self, info: DatasetInfo) -> None:
        version = getattr(self, "version", None)
        if version is None or not version.files:
            return
        first = version.files[0]
        base = self.ctx.platform.settings.public_url
        url = base + download_url("datasets", info.name, version.version, first.path)
        command = f'curl -OJ -H "Authorization: Bearer $AIP_TOKEN" \\\n  {url}'
        with side_card("Download", "dataset-usage"):
            with ui.row().classes("w-full items-center"):
                ui.label("With curl").classes("text-sm font-medium")
                ui.space()
                copy_button(command, "Command")
            pre_block(command, testid="dataset-curl", wrap=False)
            ui.label(
                "Or in Python: Client(url, token).download_dataset_file"
                f"({info.name!r}, {version.version}, {first.path!r}, '.')"
            ).classes("text-xs aip-muted aip-mono break-all")
