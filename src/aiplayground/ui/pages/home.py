"""Home: what each page is for, and live counts of the caller's things.

The counts come from summary providers: each takes the platform and the principal and
returns `Summary` tiles. A capability adds its tiles by adding a provider to
`SUMMARY_PROVIDERS` (models, endpoints, jobs, ... as they land).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nicegui import ui

from aiplayground.auth.principal import Principal
from aiplayground.store.tables import utcnow
from aiplayground.ui.shell import NAV, PageContext, page_title, signed_in_page

if TYPE_CHECKING:
    from aiplayground.app import Platform


@dataclass(frozen=True)
class Summary:
    """One count on the Home page, with where to go to see the items behind it."""

    key: str
    label: str
    value: int
    hint: str
    icon: str
    path: str


SummaryProvider = Callable[["Platform", Principal], Iterable[Summary]]


def account_summaries(platform: Platform, principal: Principal) -> Iterator[Summary]:
    """The caller's usable API tokens and, for admins, the number of users."""
    now = utcnow()
    active = [
        t
        for t in platform.auth.list_tokens(principal)
        if t.revoked_at is None and (t.expires_at is None or t.expires_at > now)
    ]
    yield Summary(
        "tokens",
        "API tokens",
        len(active),
        "active, for the REST API, SDK and CLI",
        "key",
        "/settings?tab=tokens",
    )
    if principal.is_admin:
        yield Summary(
            "users",
            "Users",
            platform.auth.user_count(),
            "accounts on this platform",
            "group",
            "/settings?tab=users",
        )


def catalog_summaries(platform: Platform, principal: Principal) -> Iterator[Summary]:
    """Models and datasets the caller can see (their own, public ones; all for admins)."""
    yield Summary(
        "models",
        "Models",
        platform.models.search(principal, limit=1).total,
        "you can see in the catalog",
        "smart_toy",
        "/catalog?tab=models",
    )
    yield Summary(
        "datasets",
        "Datasets",
        platform.datasets.search(principal, limit=1).total,
        "you can see in the catalog",
        "dataset",
        "/catalog?tab=datasets",
    )


SUMMARY_PROVIDERS: tuple[SummaryProvider, ...] = (catalog_summaries, account_summaries)


def register(platform: Platform) -> None:
    """Register the Home page at /."""

    @signed_in_page(platform, NAV["home"])
    def home(ctx: PageContext) -> None:
        page_title(
            f"Welcome, {ctx.user.display_name or ctx.user.name}",
            "AI Playground hosts your models, datasets, chats and training jobs in one place.",
        )
        summaries = [s for provider in SUMMARY_PROVIDERS for s in provider(platform, ctx.principal)]
        with ui.element("div").classes("grid grid-cols-1 sm:grid-cols-2 lg:grid-cols-4 gap-4"):
            for summary in summaries:
                _tile(summary)
        ui.label("What you can do here").classes("text-lg font-medium mt-2")
        with ui.element("div").classes("grid grid-cols-1 md:grid-cols-2 lg:grid-cols-3 gap-4"):
            for item in NAV.values():
                if item.key == "home":
                    continue
                with (
                    ui.link(target=item.path).classes("block no-underline text-inherit"),
                    ui.card().classes("aip-card h-full p-5 gap-2 cursor-pointer hover:shadow-md"),
                ):
                    with ui.row().classes("items-center gap-3 no-wrap"):
                        ui.icon(item.icon, size="1.6rem").classes("text-primary")
                        ui.label(item.label).classes("text-lg font-medium")
                    ui.label(item.purpose).classes("aip-muted")


def _tile(summary: Summary) -> None:
    with (
        ui.link(target=summary.path).classes("no-underline text-inherit"),
        ui.card()
        .classes("aip-card p-5 gap-1 hover:shadow-md")
        .props(f"data-testid=summary-{summary.key}"),
    ):
        with ui.row().classes("items-center gap-2 no-wrap aip-muted"):
            ui.icon(summary.icon, size="1.2rem")
            ui.label(summary.label).classes("text-sm font-medium uppercase tracking-wide")
        ui.label(str(summary.value)).classes("text-4xl font-semibold").props(
            "data-testid=summary-value"
        )
        ui.label(summary.hint).classes("text-sm aip-muted")
