"""The web UI: NiceGUI pages mounted at / on the platform's FastAPI app.

Pages are thin: they call the services on the `Platform` and never the database or our
own HTTP API. To add a page, write `ui/pages/<name>.py` with `register(platform)` that
decorates its body with `shell.signed_in_page(platform, shell.NAV[<key>])`, and list
the module in `_page_modules()` below.
"""

from __future__ import annotations

import logging
import secrets
from types import ModuleType
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException
from starlette.routing import Match

if TYPE_CHECKING:
    from aiplayground.app import Platform

log = logging.getLogger(__name__)

# Paths that belong to the REST and protocol routes: an unknown one must answer in JSON,
# not with NiceGUI's HTML 404 page.
API_PREFIXES = ("/api", "/v1", "/v2", "/openai", "/auth")

_run_with_done = False


def _page_modules() -> tuple[ModuleType, ...]:
    from aiplayground.ui.pages import catalog, chat, home, inference, login, settings, train

    return (login, home, catalog, chat, inference, train, settings)


def mount_ui(app: FastAPI, platform: Platform) -> None:
    """Register every page and mount NiceGUI at / behind the app's existing routes.

    NiceGUI keeps one UI per process, bound to the first app's event loop: a second call
    mounts the pages on the new app so its API routes behave the same, but its pages do
    not render. Tests that build many apps set `server.ui = false`.
    """
    global _run_with_done
    from nicegui import app as nicegui_app
    from nicegui import ui

    for module in _page_modules():
        module.register(platform)
    _answer_unknown_api_paths(app)
    if _run_with_done:
        log.warning("the web UI is already mounted on another app in this process")
        app.mount("/", nicegui_app)
        return
    ui.run_with(
        app,
        title="AI Playground",
        mount_path="/",
        # Per process: NiceGUI's storage cookie is not a credential, our session cookie is.
        storage_secret=secrets.token_urlsafe(32),
        show_welcome_message=False,
        dark=None,
        favicon="🧪",
    )
    _run_with_done = True


def _answer_unknown_api_paths(app: FastAPI) -> None:
    """Keep API 404/405 answers in JSON: NiceGUI, mounted at /, would take every path."""
    existing = list(app.router.routes)

    async def unknown(request: Request) -> None:
        for route in existing:
            match, _ = route.matches(request.scope)
            if match is Match.PARTIAL:
                raise HTTPException(405, "method not allowed")
        raise HTTPException(404, f"no route for {request.url.path}")

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
    for prefix in API_PREFIXES:
        app.add_api_route(
            f"{prefix}/{{rest:path}}", unknown, methods=methods, include_in_schema=False
        )
