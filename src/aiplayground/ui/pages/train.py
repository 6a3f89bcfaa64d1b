"""Train: submit and follow training jobs (empty state until training lands)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiplayground.ui.shell import NAV, PageContext, empty_state, page_title, signed_in_page

if TYPE_CHECKING:
    from aiplayground.app import Platform


def register(platform: Platform) -> None:
    """Register the Train page at /train."""

    @signed_in_page(platform, NAV["train"])
    def train(ctx: PageContext) -> None:
        page_title("Train", NAV["train"].purpose)
        empty_state(
            "model_training",
            "The training page is not built yet",
            "This page will submit training and fine-tuning jobs on catalog datasets and "
            "follow their progress, logs and metrics live. Until then there is nothing "
            "to show here.",
            [
                "Pick a recipe and a dataset, and set its parameters",
                "Follow progress, logs and metrics while the job runs",
                "Find the result in the catalog as a new model version",
            ],
        )
