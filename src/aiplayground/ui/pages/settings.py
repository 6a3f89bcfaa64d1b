"""Settings: API tokens, the caller's account and, for admins, the platform's users.

A tab opens directly with `/settings?tab=tokens|account|users`. Later settings (providers,
endpoints, storage) add a tab here and a `<name>_panel(ctx)` function in their own module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nicegui import run, ui

from aiplayground.auth.passwords import MIN_PASSWORD_LENGTH
from aiplayground.errors import PlaygroundError
from aiplayground.ui.pages.tokens import token_panel
from aiplayground.ui.pages.users import users_panel
from aiplayground.ui.shell import NAV, PageContext, page_title, show_error, signed_in_page, when

if TYPE_CHECKING:
    from aiplayground.app import Platform


def register(platform: Platform) -> None:
    """Register the Settings page at /settings."""

    @signed_in_page(platform, NAV["settings"])
    def settings(ctx: PageContext) -> None:
        page_title("Settings", NAV["settings"].purpose)
        panels = {"tokens": ("API tokens", "key", token_panel)}
        panels["account"] = ("Account", "person", account_panel)
        if ctx.principal.is_admin:
            panels["users"] = ("Users", "group", users_panel)
        wanted = ctx.request.query_params.get("tab", "tokens")
        with ui.tabs().props("align=left no-caps inline-label").classes("w-full") as tabs:
            tab_of = {
                key: ui.tab(key, label=label, icon=icon).props(f"data-testid=tab-{key}")
                for key, (label, icon, _) in panels.items()
            }
        start = tab_of.get(wanted, tab_of["tokens"])
        with (
            ui.tab_panels(tabs, value=start)
            .classes("w-full bg-transparent")
            .props("animated=false")
        ):
            for key, (_, _, draw) in panels.items():
                with ui.tab_panel(tab_of[key]).classes("px-0 gap-4"):
                    draw(ctx)


def account_panel(ctx: PageContext) -> None:
    """Draw the Account tab: who you are, and the password form."""
    user = ctx.user
    with ui.card().classes("aip-card w-full p-5 gap-2"):
        ui.label("Your account").classes("text-lg font-medium")
        for label, value in (
            ("User name", user.name),
            ("Display name", user.display_name),
            ("Role", user.role.value),
            ("Email", user.email or "—"),
            ("Member since", when(user.created_at)),
            ("Last login", when(user.last_login_at, "never")),
        ):
            with ui.row().classes("gap-4"):
                ui.label(label).classes("w-32 aip-muted")
                ui.label(value).props(f"data-testid=account-{label.lower().replace(' ', '-')}")
    with ui.card().classes("aip-card w-full max-w-lg p-5 gap-3"):
        ui.label("Change password").classes("text-lg font-medium")
        ui.label(
            "Leave the current password empty if you have never set one "
            "(you logged in with a one-time link)."
        ).classes("text-sm aip-muted")
        current = _password("Current password", "current-password", "password-current")
        new = _password("New password", "new-password", "password-new")
        new.props(f'hint="At least {MIN_PASSWORD_LENGTH} characters"')
        repeat = _password("Repeat the new password", "new-password", "password-repeat")

        async def change() -> None:
            if new.value != repeat.value:
                ui.notify("The new passwords differ.", type="warning", position="top")
                return
            try:
                principal = ctx.current_principal()
                # Verifying and hashing passwords is slow on purpose; keep it off the loop.
                await run.io_bound(
                    ctx.platform.auth.set_password, principal, current.value or None, new.value
                )
            except PlaygroundError as exc:
                show_error(exc)
                return
            for field in (current, new, repeat):
                field.value = ""
            ui.notify("Password changed.", type="positive", position="top")

        ui.button("Change password", on_click=change).props(
            "unelevated no-caps data-testid=password-change"
        )


def _password(label: str, autocomplete: str, testid: str) -> ui.input:
    return (
        ui.input(label, password=True, password_toggle_button=True)
        .props(f"outlined dense autocomplete={autocomplete} data-testid={testid}")
        .classes("w-full")
    )
