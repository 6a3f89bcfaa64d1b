"""Inference: send events to a published model and see predictions (empty state for now)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiplayground.ui.shell import NAV, PageContext, empty_state, page_title, signed_in_page

if TYPE_CHECKING:
    from aiplayground.app import Platform


def register(platform: Platform) -> None:
    """Register the Inference page at /inference."""

    @signed_in_page(platform, NAV["inference"])
    def inference(ctx: PageContext) -> None:
        page_title("Inference", NAV["inference"].purpose)
        empty_state(
            "bolt",
            "The inference page is not built yet",
            "This page will send events to a published model and show what it predicts. "
            "Until then, models are called over the KServe v1/v2 routes from your own code.",
            [
                "Pick the model to call from the catalog",
                'Write events as {"instances": ...} JSON, or upload CSV, Parquet or ROOT',
                "Send them and look at the predictions",
            ],
        )
