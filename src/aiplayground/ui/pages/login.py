"""The login page: a plain HTML form that posts to /auth/login, so the browser gets the cookie."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from nicegui import ui

from aiplayground.auth.redirect import safe_next
from aiplayground.ui.shell import PRODUCT, apply_theme, session_principal

if TYPE_CHECKING:
    from aiplayground.app import Platform

ERRORS = {
    "1": "Wrong user name or password, or the account is suspended.",
    "link": "This login link is invalid, already used or expired. Ask an administrator "
    "for a new one.",
}


def register(platform: Platform) -> None:
    """Register the login page at /login."""

    @ui.page("/login", title=f"Log in · {PRODUCT}")
    def login(request: Request, next: str = "/", error: str = "") -> Response | None:
        target = safe_next(next)
        if session_principal(platform, request) is not None:
            return RedirectResponse(target, status_code=303)
        apply_theme(request)
        with ui.column().classes("w-full min-h-screen items-center justify-center p-6"):
            with ui.row().classes("items-center gap-2 mb-4"):
                ui.icon("hub", size="2.2rem").classes("text-primary")
                ui.label(PRODUCT).classes("text-2xl font-semibold")
            with ui.card().classes("aip-card w-full max-w-sm p-6 gap-4"):
                ui.label("Log in").classes("text-xl font-medium").props(
                    'data-testid=page-title role=heading aria-level="1"'
                )
                if error:
                    with (
                        ui.row()
                        .classes(
                            "w-full items-start gap-2 no-wrap rounded-lg p-3 bg-red-50 text-red-800"
                        )
                        .props("data-testid=login-error role=alert")
                    ):
                        ui.icon("error_outline", size="1.3rem")
                        ui.label(ERRORS.get(error, ERRORS["1"])).classes("text-sm")
                _form(target)
            _help()
        return None


def _form(target: str) -> None:
    # method=post to the REST route: the response sets the HttpOnly cookie and redirects.
    with (
        ui.element("form")
        .props('method=post action="/auth/login"')
        .classes("w-full flex flex-col gap-3")
    ):
        ui.input("User name").props(
            "name=username autocomplete=username outlined autofocus data-testid=login-username"
        ).classes("w-full")
        ui.input("Password", password=True, password_toggle_button=True).props(
            "name=password autocomplete=current-password outlined data-testid=login-password"
        ).classes("w-full")
        hidden = ui.element("input")
        hidden.props.update(type="hidden", name="next", value=target)
        ui.button("Log in").props("type=submit unelevated no-caps data-testid=login-submit")


def _help() -> None:
    with ui.column().classes("w-full max-w-sm mt-4 gap-2 text-sm aip-muted"):
        ui.label(
            "First time here? When the platform starts with no users it prints a one-time "
            "login link for 'admin' in the server's console; open it to log in."
        )
        ui.label("An operator can make a new one-time link for any user on the server:")
        ui.label("aiplayground admin login-link --user NAME").classes("aip-code w-full")
        ui.label("Once logged in, set a password in Settings → Account.")
