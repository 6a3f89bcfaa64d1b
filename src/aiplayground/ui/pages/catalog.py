"""Catalog: models and datasets as cards (an honest empty state until the catalog lands)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiplayground.ui.shell import NAV, PageContext, empty_state, page_title, signed_in_page

if TYPE_CHECKING:
    from aiplayground.app import Platform


def register(platform: Platform) -> None:
    """Register the Catalog page at /catalog."""

    @signed_in_page(platform, NAV["catalog"])
    def catalog(ctx: PageContext) -> None:
        page_title("Catalog", NAV["catalog"].purpose)
        empty_state(
            "inventory_2",
            "The catalog page is not built yet",
            "This page will list every model and dataset on the platform as cards, with "
            "their versions. Until then nothing is shown here; the REST API lists what is "
            "registered at /api/v1/models and /api/v1/datasets.",
            [
                "Cards with name, objective, format, host and protocol, and versions",
                "Upload a model or a dataset from your computer",
                "Register a Hugging Face snapshot, an OpenAI-compatible server "
                "or a remote KServe endpoint",
            ],
        )
