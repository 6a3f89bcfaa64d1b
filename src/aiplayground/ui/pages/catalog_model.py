"""/catalog/models/{name}: the model card, its versions and how to call it."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from nicegui import ui

from aiplayground.catalog.schemas import ModelFormat, ModelInfo, ModelVersionInfo, Protocol
from aiplayground.errors import NotFound, PlaygroundError
from aiplayground.ui.pages import catalog_edit
from aiplayground.ui.pages.catalog_common import (
    MODEL_FORMATS,
    OBJECTIVES,
    PROTOCOLS,
    SERVED_FORMATS,
    can_change,
    chip,
    copy_button,
    markdown_view,
    not_found,
    pre_block,
    section_title,
)
from aiplayground.ui.pages.catalog_detail import (
    breadcrumbs,
    entry_facts,
    facts,
    header,
    side_card,
    sub_page,
)
from aiplayground.ui.pages.catalog_style import add_style
from aiplayground.ui.pages.catalog_versions import model_version_panel
from aiplayground.ui.shell import PRODUCT, PageContext, show_error, signed_in_page

if TYPE_CHECKING:
    from aiplayground.app import Platform


def register(platform: Platform) -> None:
    """Register the model page."""

    @signed_in_page(platform, sub_page("/catalog/models/{name}"))
    async def model_page(ctx: PageContext) -> None:
        await ModelPage(ctx, ctx.request.path_params["name"]).draw()


class ModelPage:
    """One model: header, card, versions (one shown at a time) and the side facts."""

    def __init__(self, ctx: PageContext, name: str) -> None:
        self.ctx = ctx
        self.name = name

    async def draw(self) -> None:
        add_style()
        breadcrumbs("models", self.name)
        try:
            info = self.ctx.platform.models.get(self.ctx.principal, self.name)
        except NotFound:
            not_found("models", self.name)
            return
        self.info = info
        ui.page_title(f"{info.title} · {PRODUCT}")
        label, icon, accent = OBJECTIVES[info.objective]
        editable = can_change(self.ctx.principal, info)

        def chips() -> None:
            chip(label, accent=accent, testid="entry-objective")
            chip(MODEL_FORMATS[info.format], "layers", testid="entry-format")
            if info.trusted:
                chip(
                    "Trusted",
                    "verified_user",
                    accent="#b45309",
                    tooltip="An admin allowed formats that run code when loaded",
                )

        header("models", info, icon, accent, chips, self.actions if editable else None)
        with ui.element("div").classes("grid grid-cols-1 lg:grid-cols-3 gap-6 w-full items-start"):
            with ui.column().classes("lg:col-span-2 gap-6 min-w-0"):
                with ui.card().classes("aip-card w-full p-6 gap-3"):
                    section_title("Model card")
                    if info.description.strip():
                        await markdown_view(info.description, testid="model-card")
                    else:
                        ui.label("No description yet.").classes("aip-muted")
                if info.format is not ModelFormat.REMOTE:
                    self.versions_card(editable)
            with ui.column().classes("gap-6 min-w-0"):
                self.side_cards()

    def actions(self) -> None:
        ctx, info = self.ctx, self.info
        if info.format is not ModelFormat.REMOTE:
            ui.button(
                "New version",
                icon="upload",
                on_click=lambda: catalog_edit.new_version_dialog(ctx, "models", info),
            ).props("outline no-caps data-testid=entry-new-version")
        ui.button(
            "Edit", icon="edit", on_click=lambda: catalog_edit.edit_dialog(ctx, "models", info)
        ).props("outline no-caps data-testid=entry-edit")
        ui.button(
            icon="delete", on_click=lambda: catalog_edit.delete_dialog(ctx, "models", info)
        ).props("outline color=negative data-testid=entry-delete").tooltip("Delete")

    # versions ----------------------------------------------------------------------------

    def versions_card(self, editable: bool) -> None:
        info = self.info
        with ui.card().classes("aip-card w-full p-6 gap-4").props("data-testid=versions-card"):
            if not info.versions:
                section_title("Versions")
                ui.label("No versions yet: upload files as version 1.").classes("aip-muted")
                return
            wanted = self.ctx.request.query_params.get("version", "")
            default = info.aliases.get("production", info.latest_version)
            self.number = (
                int(wanted)
                if wanted.isdigit() and int(wanted) in info.versions
                else (default or info.versions[-1])
            )
            with ui.row().classes("w-full items-center"):
                section_title(f"Versions ({len(info.versions)})")
                ui.space()
                options = {
                    n: f"v{n}" + "".join(f" · {a}" for a, v in info.aliases.items() if v == n)
                    for n in reversed(info.versions)
                }
                ui.select(options, value=self.number, on_change=lambda e: self.show(e.value)).props(
                    "outlined dense options-dense data-testid=version-select"
                ).classes("min-w-[10rem]")
            self.panel = ui.column().classes("w-full")
            self.editable = editable
            self.show(self.number)

    def show(self, number: int) -> None:
        self.number = number
        self.panel.clear()
        try:
            version = self.ctx.platform.models.get_version(
                self.ctx.current_principal(), self.name, number
            )
        except PlaygroundError as exc:
            show_error(exc)
            return
        self.version = version
        ui.navigate.history.replace(f"{self.ctx.request.url.path}?version={number}")
        editor = None
        if self.editable:

            def editor() -> None:
                catalog_edit.alias_button(self.ctx, self.info, number)

        with self.panel:
            model_version_panel(version, editor)

    # side --------------------------------------------------------------------------------

    def side_cards(self) -> None:
        info = self.info
        with side_card("About", "model-facts"):
            aliases = ", ".join(f"{a} → v{v}" for a, v in sorted(info.aliases.items()))
            entry_facts(
                info,
                [
                    ("Format", MODEL_FORMATS[info.format]),
                    ("Objective", OBJECTIVES[info.objective][0]),
                    ("Aliases", aliases or "none"),
                ],
            )
        if info.endpoint is not None:
            with side_card("Remote endpoint", "model-endpoint"):
                facts(
                    [
                        ("URL", info.endpoint.url),
                        ("Protocol", PROTOCOLS[info.endpoint.protocol]),
                        ("Remote name", info.endpoint.remote_name or info.name),
                        ("API key", "stored, encrypted" if info.endpoint.has_api_key else "none"),
                    ]
                )
                if info.endpoint.protocol is not Protocol.OPENAI:
                    ui.label(
                        f"Requests to /v2/models/{info.name}/infer and "
                        f"/v1/models/{info.name}:predict here are forwarded to it."
                    ).classes("text-xs aip-muted")
        elif info.format in SERVED_FORMATS and info.versions:
            with side_card("Call it", "model-usage"):
                self.usage(info)

    def usage(self, info: ModelInfo) -> None:
        base = self.ctx.platform.settings.public_url
        ui.label("Served here through the KServe v1 and v2 (Open Inference) routes:").classes(
            "text-sm aip-muted"
        )
        ui.label(f"POST /v2/models/{info.name}/infer\nPOST /v1/models/{info.name}:predict").classes(
            "aip-mono text-xs whitespace-pre"
        )
        version: ModelVersionInfo | None = getattr(self, "version", None)
        example = version.example if version is not None else None
        route = f"/v2/models/{info.name}/infer"
        if example is not None and "instances" in example:
            route = f"/v1/models/{info.name}:predict"
        body = json.dumps(example) if example is not None else '{"inputs": [...]}'
        command = (
            f"curl -X POST {base}{route} \\\n"
            '  -H "Authorization: Bearer $AIP_TOKEN" \\\n'
            '  -H "Content-Type: application/json" \\\n'
            f"  -d '{body.replace(chr(39), chr(39) + chr(92) + chr(39) + chr(39))}'"
        )
        with ui.row().classes("w-full items-center"):
            ui.label("With curl").classes("text-sm font-medium")
            ui.space()
            copy_button(command, "Command")
        pre_block(command, testid="model-curl", wrap=False)
        ui.label("Create a token under Settings → API tokens.").classes("text-xs aip-muted")
