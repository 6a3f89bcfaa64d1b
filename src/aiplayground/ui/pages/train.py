"""Train: submit training jobs on catalog datasets and follow them live.

/train has the new-job card and the caller's job list; /train/jobs/{id} follows one job
(logs, metrics, progress, cancel, the model version it produced). Jobs are run by workers
(`aiplayground worker`, or `aiplayground serve --workers N`), never by the page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiplayground.ui.pages.catalog_style import add_style as add_catalog_style
from aiplayground.ui.pages.train_common import add_style, sub_page
from aiplayground.ui.pages.train_job import JobView
from aiplayground.ui.pages.train_jobs import JobList
from aiplayground.ui.pages.train_submit import SubmitCard
from aiplayground.ui.shell import NAV, PageContext, page_title, signed_in_page

if TYPE_CHECKING:
    from aiplayground.app import Platform


def register(platform: Platform) -> None:
    """Register the Train page at /train and the job view at /train/jobs/{job_id}."""

    @signed_in_page(platform, NAV["train"])
    def train(ctx: PageContext) -> None:
        add_catalog_style()
        add_style()
        page_title("Train", NAV["train"].purpose)
        SubmitCard(ctx).draw()
        JobList(ctx).draw()

    @signed_in_page(platform, sub_page("/train/jobs/{job_id}"))
    async def job_page(ctx: PageContext) -> None:
        add_catalog_style()
        await JobView(ctx, ctx.request.path_params["job_id"]).draw()
