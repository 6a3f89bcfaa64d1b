"""Chat: streamed answers from a text-generation model (empty state until chat lands)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiplayground.ui.shell import NAV, PageContext, empty_state, page_title, signed_in_page

if TYPE_CHECKING:
    from aiplayground.app import Platform


def register(platform: Platform) -> None:
    """Register the Chat page at /chat."""

    @signed_in_page(platform, NAV["chat"])
    def chat(ctx: PageContext) -> None:
        page_title("Chat", NAV["chat"].purpose)
        empty_state(
            "forum",
            "The chat page is not built yet",
            "This page will stream answers from a text-generation model, optionally grounded "
            "in a knowledge base built from your documents. Until then there is nothing "
            "to talk to here.",
            [
                "Pick the model server and set generation parameters",
                "Choose the prompt template and how many past messages to remember",
                "Attach a knowledge base and see the sources of each answer",
            ],
        )
