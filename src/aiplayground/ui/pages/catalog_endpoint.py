"""Register a remote KServe v1/v2 or OpenAI-compatible server as a catalog model, with a
'Test connection' probe that goes through the same URL policy as the registration."""

from __future__ import annotations

import asyncio

from nicegui import ui
from pydantic import ValidationError

from aiplayground.catalog.schemas import EndpointCreate, Objective, Protocol
from aiplayground.errors import PlaygroundError
from aiplayground.ui.pages.catalog_common import PROTOCOLS, detail_path
from aiplayground.ui.pages.catalog_forms import (
    busy,
    dialog_frame,
    done,
    entry_fields,
    problem_text,
    warn,
)
from aiplayground.ui.shell import PageContext, show_error


def endpoint_dialog(ctx: PageContext) -> None:
    """Register a remote KServe v1/v2 or OpenAI-compatible server as a model."""
    with (
        dialog_frame(
            "Register a remote endpoint",
            "A model served elsewhere, reached through this platform's routes.",
            "add-endpoint-dialog",
        ) as frame,
        frame.body,
    ):
        with ui.element("div").classes("grid grid-cols-1 sm:grid-cols-3 gap-x-4 gap-y-2 w-full"):
            url = ui.input("Base URL", placeholder="https://models.example.org").props(
                "outlined dense maxlength=2048 data-testid=field-url"
            )
            url.classes("sm:col-span-2")
            protocol = ui.select(
                {p.value: label for p, label in PROTOCOLS.items()},
                label="Protocol",
                value=Protocol.KSERVE_V2.value,
            ).props("outlined dense data-testid=field-protocol")
            remote = ui.input("Model name on the server", placeholder="defaults to the name")
            remote.props("outlined dense maxlength=256 data-testid=field-remote-name")
            key = ui.input("API key (optional)", password=True, password_toggle_button=True)
            key.props("outlined dense maxlength=4096 autocomplete=off data-testid=field-api-key")
            key.classes("sm:col-span-2")
        ui.label(
            "The API key is stored encrypted and never shown again. Addresses on private "
            "networks are refused unless an admin allow-listed them."
        ).classes("text-xs aip-muted -mt-2")
        fields = entry_fields(objective=Objective.TEXT_GENERATION)
        with ui.row().classes("items-center gap-3"):
            check = ui.switch("Check that it answers before saving", value=True)
            check.props("data-testid=field-check")
        status = ui.row().classes("items-center gap-2 text-sm").props("data-testid=probe-status")

    def spec_or_none(probe: bool) -> EndpointCreate | None:
        try:
            return EndpointCreate(
                **fields.values(),
                url=(url.value or "").strip(),
                protocol=Protocol(protocol.value),
                remote_name=(remote.value or "").strip() or None,
                api_key=key.value or None,
                check=probe or bool(check.value),
            )
        except ValidationError as exc:
            warn(problem_text(exc))
            return None

    async def probe() -> None:
        spec = spec_or_none(True)
        if spec is None:
            return
        status.clear()
        endpoints = ctx.platform.endpoints
        with busy(test_button):
            try:
                checked = await asyncio.to_thread(endpoints.validate_url, spec.url, ctx.principal)
                name = spec.remote_name or spec.name
                await asyncio.to_thread(endpoints.check, checked, spec.protocol, name, spec.api_key)
            except PlaygroundError as exc:
                with status:
                    ui.icon("error_outline").classes("text-negative")
                    ui.label(exc.message).classes("text-negative")
                return
        with status:
            ui.icon("check_circle").classes("text-positive")
            ui.label(f"{checked} answers for the model.").classes("text-positive")

    async def submit() -> None:
        spec = spec_or_none(False)
        if spec is None:
            return
        with busy(button):
            try:
                principal = ctx.current_principal()
                await asyncio.to_thread(ctx.platform.models.register_endpoint, principal, spec)
            except PlaygroundError as exc:
                show_error(exc)
                return
        done(frame.dialog, f"Endpoint {spec.name} registered", detail_path("models", spec.name))

    with frame.actions:
        test_button = ui.button("Test connection", icon="wifi_tethering", on_click=probe)
        test_button.props("flat no-caps data-testid=probe-endpoint")
        button = ui.button("Register endpoint", icon="link", on_click=submit).props(
            "unelevated no-caps data-testid=add-submit"
        )
