"""The frame every signed-in page shares: header, navigation, user menu and theme toggle.

A page module registers its body with `signed_in_page(platform, NAV["catalog"])`; the body
receives a `PageContext` (platform, principal, user, request) and draws into the content
column. Pages call the services on `ctx.platform` directly, never HTTP or the database.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from nicegui import ui

from aiplayground.api.deps import SESSION_COOKIE
from aiplayground.auth.principal import Principal
from aiplayground.auth.schemas import UserInfo
from aiplayground.errors import PlaygroundError, Unauthenticated

if TYPE_CHECKING:
    from aiplayground.app import Platform

PRODUCT = "AI Playground"
THEME_COOKIE = "aip_theme"
# Theme toggle cycles through these; None follows the operating system.
THEMES: tuple[tuple[bool | None, str, str], ...] = (
    (None, "brightness_auto", "Theme: follow the system"),
    (True, "dark_mode", "Theme: dark"),
    (False, "light_mode", "Theme: light"),
)


@dataclass(frozen=True)
class NavItem:
    """One entry of the navigation: where it goes and what the page is for."""

    key: str
    label: str
    icon: str
    path: str
    purpose: str


NAV: dict[str, NavItem] = {
    item.key: item
    for item in (
        NavItem(
            "home", "Home", "home", "/", "What the platform offers and the state of your work."
        ),
        NavItem(
            "catalog",
            "Catalog",
            "inventory_2",
            "/catalog",
            "Browse, upload and register models and datasets.",
        ),
        NavItem(
            "chat",
            "Chat",
            "forum",
            "/chat",
            "Talk to a language model grounded in your own documents.",
        ),
        NavItem(
            "inference",
            "Inference",
            "bolt",
            "/inference",
            "Send events to a published model and look at its predictions.",
        ),
        NavItem(
            "train",
            "Train",
            "model_training",
            "/train",
            "Train or fine-tune a model on a catalog dataset and follow it live.",
        ),
        NavItem(
            "settings",
            "Settings",
            "settings",
            "/settings",
            "API tokens, your account and, for admins, the platform's users.",
        ),
    )
}

STYLE = """
<style>
  body.body--light { background: #f8fafc; }
  body.body--dark { background: #0d1017; }
  .aip-header { background: #ffffff; color: #1f2937; border-bottom: 1px solid #e5e7eb; }
  .body--dark .aip-header { background: #161a23; color: #e5e7eb; border-color: #2a2f3a; }
  .aip-drawer { background: #f8fafc; }
  .body--dark .aip-drawer { background: #11141b; }
  .aip-brand { color: inherit; text-decoration: none; font-weight: 700; font-size: 1.1rem; }
  .aip-nav a { display: flex; align-items: center; gap: .8rem; padding: .6rem .9rem;
    border-radius: .6rem; color: inherit; text-decoration: none; font-size: .95rem; }
  .aip-nav a .q-icon { opacity: .75; }
  .aip-nav a:hover { background: rgba(100, 116, 139, .12); }
  .aip-nav a.aip-active { background: rgba(53, 89, 224, .12); color: var(--q-primary);
    font-weight: 600; }
  .aip-nav a.aip-active .q-icon { opacity: 1; }
  .body--dark .aip-nav a.aip-active { background: rgba(120, 150, 255, .16); color: #a9bcff; }
  .aip-card { border: 1px solid #e5e7eb; box-shadow: none; border-radius: .9rem; }
  .body--dark .aip-card { border-color: #2a2f3a; background: #161a23; }
  .aip-muted { color: #6b7280; }
  .body--dark .aip-muted { color: #9ca3af; }
  .aip-code { font-family: ui-monospace, monospace; font-size: .85rem; padding: .5rem .75rem;
    border-radius: .5rem; background: #eef2f7; color: #1f2937; }
  .body--dark .aip-code { background: #1f2430; color: #e5e7eb; }
</style>
"""


@dataclass
class PageContext:
    """What a page body gets: the services, who is signed in, and the request."""

    platform: Platform
    principal: Principal
    user: UserInfo
    request: Request

    def current_principal(self) -> Principal:
        """Check the session again before an action; raises Unauthenticated if it ended."""
        # An open page outlives its session (logout elsewhere, suspension, expiry).
        self.principal = self.platform.auth.authenticate_session(
            self.request.cookies.get(SESSION_COOKIE, "")
        )
        return self.principal


PageBody = Callable[[PageContext], Awaitable[None] | None]


def session_principal(platform: Platform, request: Request) -> Principal | None:
    """The principal behind the request's session cookie, or None if not signed in."""
    secret = request.cookies.get(SESSION_COOKIE)
    if not secret:
        return None
    try:
        return platform.auth.authenticate_session(secret)
    except Unauthenticated:
        return None


def login_redirect(request: Request) -> RedirectResponse:
    """A redirect to the login page that comes back to this request's page afterwards."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


def signed_in_page(platform: Platform, item: NavItem) -> Callable[[PageBody], PageBody]:
    """Register `body` as the page at `item.path`, drawn in the shell, for signed-in users."""

    def register(body: PageBody) -> PageBody:
        @ui.page(item.path, title=f"{item.label} · {PRODUCT}")
        async def page(request: Request) -> Response | None:
            principal = session_principal(platform, request)
            if principal is None:
                return login_redirect(request)
            user = platform.auth.get_user(principal.name)
            ctx = PageContext(platform=platform, principal=principal, user=user, request=request)
            with frame(ctx, item):
                result = body(ctx)
                if inspect.isawaitable(result):
                    await result
            return None

        return body

    return register


def apply_theme(request: Request) -> ui.dark_mode:
    """Add the shared styles and the user's saved light/dark choice; returns the dark mode."""
    ui.add_head_html(STYLE)
    ui.colors(primary="#3559e0")
    return ui.dark_mode(_saved_theme(request))


@contextmanager
def frame(ctx: PageContext, active: NavItem) -> Iterator[None]:
    """Draw the header and navigation, and yield inside the page's content column."""
    dark = apply_theme(ctx.request)
    drawer = ui.left_drawer(value=None, bordered=True).classes("aip-drawer p-3")
    drawer.props("width=240")
    with ui.header(elevated=False).classes("aip-header items-center gap-2 px-4 py-2"):
        ui.button(icon="menu", on_click=drawer.toggle).props("flat round dense color=grey-7")
        with ui.link(target="/").classes("aip-brand flex items-center gap-2"):
            ui.icon("hub", size="1.6rem").classes("text-primary")
            ui.label(PRODUCT)
        ui.space()
        theme_toggle(dark)
        user_menu(ctx)
    with drawer, ui.element("nav").classes("aip-nav w-full flex flex-col gap-1"):
        for item in NAV.values():
            with ui.link(target=item.path) as link:
                ui.icon(item.icon, size="1.35rem")
                ui.label(item.label)
            link.props(f"data-testid=nav-{item.key}")
            if item.key == active.key:
                link.classes("aip-active").props('aria-current="page"')
    with ui.column().classes("w-full max-w-6xl mx-auto px-6 py-8 gap-6"):
        yield


def theme_toggle(dark: ui.dark_mode) -> None:
    """A button that cycles auto/dark/light and remembers the choice in a cookie."""
    index = next(i for i, theme in enumerate(THEMES) if theme[0] == dark.value)

    def cycle() -> None:
        nonlocal index
        index = (index + 1) % len(THEMES)
        value, icon, tip = THEMES[index]
        dark.value = value
        button.props(f"icon={icon}")
        tooltip.text = tip
        saved = {None: "auto", True: "dark", False: "light"}[value]
        ui.run_javascript(
            f"document.cookie = '{THEME_COOKIE}={saved}; path=/; max-age=31536000; SameSite=Lax'"
        )

    _, icon, tip = THEMES[index]
    with ui.button(icon=icon, on_click=cycle).props(
        "flat round dense color=grey-7 data-testid=theme-toggle"
    ) as button:
        tooltip = ui.tooltip(tip)


def user_menu(ctx: PageContext) -> None:
    """The signed-in user's name and role, and the log-out button."""
    with (
        ui.button(ctx.user.name, icon="account_circle").props(
            "flat no-caps color=grey-8 data-testid=user-menu"
        ),
        ui.menu().classes("min-w-[14rem]"),
    ):
        with ui.column().classes("px-4 pt-3 pb-2 gap-0"):
            ui.label(ctx.user.display_name or ctx.user.name).classes("font-medium")
            ui.label(f"{ctx.user.name} · {ctx.principal.role.value}").classes(
                "text-sm aip-muted"
            ).props("data-testid=user-role")
        ui.separator()
        # A real form post: the browser sends the cookie and follows the redirect.
        with ui.element("form").props('method=post action="/auth/logout"').classes("p-1"):
            ui.button("Log out", icon="logout").props(
                "flat no-caps type=submit align=left data-testid=logout"
            ).classes("w-full")


def page_title(title: str, subtitle: str = "") -> None:
    """The page heading and a one-line explanation under it."""
    with ui.column().classes("gap-1"):
        ui.label(title).classes("text-3xl font-semibold").props(
            'data-testid=page-title role=heading aria-level="1"'
        )
        if subtitle:
            ui.label(subtitle).classes("aip-muted text-base")


def empty_state(icon: str, title: str, text: str, coming: list[str]) -> None:
    """An honest 'nothing here yet' panel saying what the page will do."""
    with (
        ui.card()
        .classes("aip-card w-full items-center text-center py-12 px-6 gap-3")
        .props("data-testid=empty-state")
    ):
        ui.icon(icon, size="3rem").classes("text-primary opacity-80")
        ui.label(title).classes("text-xl font-medium")
        ui.label(text).classes("aip-muted max-w-xl")
        if coming:
            with ui.column().classes("items-start gap-1 mt-2"):
                for line in coming:
                    with ui.row().classes("items-center gap-2 no-wrap"):
                        ui.icon("check_circle_outline", size="1.1rem").classes("aip-muted")
                        ui.label(line).classes("text-left")


def show_error(exc: PlaygroundError) -> None:
    """Tell the user why an action failed (the service's own message)."""
    ui.notify(exc.message, type="negative", position="top")


def when(moment: datetime | None, empty: str = "—") -> str:
    """A timestamp as the user reads it: UTC, to the minute."""
    if moment is None:
        return empty
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _saved_theme(request: Request) -> bool | None:
    return {"dark": True, "light": False}.get(request.cookies.get(THEME_COOKIE, ""))
