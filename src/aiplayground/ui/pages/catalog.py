"""Catalog: models and datasets as cards with search and filters, like a model hub.

/catalog lists (tabs, search, filters, "Load more"; the URL keeps the state so a search can
be shared), /catalog/models/{name} and /catalog/datasets/{name} show one entry, and the Add
menu registers new ones. The pages call `platform.models` and `platform.datasets`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nicegui import ui

from aiplayground.catalog.schemas import (
    DatasetFormat,
    DatasetInfo,
    ModelFormat,
    ModelInfo,
    Objective,
    Page,
)
from aiplayground.errors import PlaygroundError
from aiplayground.ui.pages import catalog_add, catalog_dataset, catalog_model
from aiplayground.ui.pages.catalog_cards import dataset_card, model_card
from aiplayground.ui.pages.catalog_common import (
    DATASET_FORMATS,
    MODEL_FORMATS,
    OBJECTIVES,
    Kind,
    can_write,
    list_path,
)
from aiplayground.ui.pages.catalog_style import add_style
from aiplayground.ui.shell import NAV, PageContext, page_title, show_error, signed_in_page

if TYPE_CHECKING:
    from aiplayground.app import Platform

PAGE_SIZE = 24
KINDS: tuple[Kind, ...] = ("models", "datasets")


def register(platform: Platform) -> None:
    """Register /catalog and the model and dataset pages under it."""

    @signed_in_page(platform, NAV["catalog"])
    def catalog(ctx: PageContext) -> None:
        CatalogBrowser(ctx).draw()

    catalog_model.register(platform)
    catalog_dataset.register(platform)


def _enum(kind: Any, raw: str | None) -> Any:
    try:
        return kind(raw) if raw else None
    except ValueError:
        return None


class CatalogBrowser:
    """The list page: its filters, the cards drawn so far, and the URL that says both."""

    def __init__(self, ctx: PageContext) -> None:
        self.ctx = ctx
        query = ctx.request.query_params
        self.kind: Kind = "datasets" if query.get("tab") == "datasets" else "models"
        self.q = query.get("q", "")[:200]
        self.objective: Objective | None = _enum(Objective, query.get("objective"))
        self.format: str | None = query.get("format") or None
        if self.format not in self.format_options():
            self.format = None
        self.quiet = False
        self.tag = query.get("tag", "")[:48]
        self.shown = 0
        self.total = 0
        self.grid: ui.element | None = None

    # drawing -----------------------------------------------------------------------------

    def draw(self) -> None:
        add_style()
        with ui.row().classes("w-full items-end justify-between gap-4"):
            page_title("Catalog", NAV["catalog"].purpose)
            if can_write(self.ctx.principal):
                catalog_add.add_menu(self.ctx)
        with (
            ui.tabs(on_change=lambda e: self.switch(e.value))
            .classes("w-full")
            .props("align=left no-caps inline-label active-color=primary indicator-color=primary")
        ) as tabs:
            for kind, icon in (("models", "smart_toy"), ("datasets", "dataset")):
                tab = ui.tab(kind, label=kind.capitalize(), icon=icon)
                tab.props(f"data-testid=tab-{kind}")
                if kind == self.kind:
                    tabs.value = tab
        ui.separator().classes("-mt-6")
        self.toolbar()
        self.results = ui.column().classes("w-full gap-4")
        self.refresh(update_url=False)

    def toolbar(self) -> None:
        with ui.row().classes("w-full items-center gap-3"):
            search = ui.input(placeholder="Search names and descriptions", value=self.q)
            search.props("outlined dense clearable debounce=300 data-testid=catalog-search")
            search.classes("grow min-w-[16rem]")
            with search.add_slot("prepend"):
                ui.icon("search")
            search.on_value_change(lambda e: self.set_filter(q=e.value or ""))
            self.objective_select = ui.select(
                {o.value: label for o, (label, _, _) in OBJECTIVES.items()},
                label="Objective",
                value=self.objective.value if self.objective else None,
                clearable=True,
                on_change=lambda e: self.set_filter(objective=_enum(Objective, e.value)),
            ).props("outlined dense options-dense data-testid=catalog-objective")
            self.objective_select.classes("w-48")
            self.format_select = ui.select(
                self.format_options(),
                label="Format",
                value=self.format if self.format in self.format_options() else None,
                clearable=True,
                on_change=lambda e: self.set_filter(format=e.value or None),
            ).props("outlined dense options-dense data-testid=catalog-format")
            self.format_select.classes("w-44")
            tag = ui.input(placeholder="Tag", value=self.tag)
            tag.props("outlined dense clearable debounce=300 data-testid=catalog-tag")
            tag.classes("w-40")
            with tag.add_slot("prepend"):
                ui.icon("sell", size="1.1rem")
            tag.on_value_change(lambda e: self.set_filter(tag=(e.value or "").strip()))
        self.objective_select.set_visibility(self.kind == "models")

    def format_options(self) -> dict[str, str]:
        if self.kind == "models":
            return {f.value: label for f, label in MODEL_FORMATS.items()}
        return {f.value: label for f, (label, _, _) in DATASET_FORMATS.items()}

    # state -----------------------------------------------------------------------------

    def switch(self, kind: Any) -> None:
        if kind not in KINDS or kind == self.kind:
            return
        self.kind = kind
        self.format = None
        self.objective_select.set_visibility(kind == "models")
        self.quiet = True  # changing the options clears the value: one refresh, not two
        try:
            self.format_select.set_options(self.format_options(), value=None)
        finally:
            self.quiet = False
        self.refresh()

    def set_filter(self, **changes: Any) -> None:
        for key, value in changes.items():
            setattr(self, key, value)
        if not self.quiet:
            self.refresh()

    def filtered(self) -> bool:
        return bool(self.q.strip() or self.tag or self.format or self.objective)

    def fetch(self, offset: int) -> Page[ModelInfo] | Page[DatasetInfo]:
        principal = self.ctx.current_principal()
        q, tag = self.q.strip() or None, self.tag or None
        if self.kind == "models":
            return self.ctx.platform.models.search(
                principal,
                q=q,
                objective=self.objective if isinstance(self.objective, Objective) else None,
                format=_enum(ModelFormat, self.format),
                tag=tag,
                limit=PAGE_SIZE,
                offset=offset,
            )
        return self.ctx.platform.datasets.search(
            principal,
            q=q,
            format=_enum(DatasetFormat, self.format),
            tag=tag,
            limit=PAGE_SIZE,
            offset=offset,
        )

    def refresh(self, update_url: bool = True) -> None:
        if update_url:
            ui.navigate.history.replace(
                list_path(
                    self.kind,
                    q=self.q.strip(),
                    objective=self.objective.value
                    if self.kind == "models" and self.objective
                    else None,
                    format=self.format,
                    tag=self.tag,
                )
            )
        self.results.clear()
        try:
            page = self.fetch(0)
        except PlaygroundError as exc:
            show_error(exc)
            return
        self.total, self.shown = page.total, 0
        with self.results:
            noun = self.kind if page.total != 1 else self.kind[:-1]
            ui.label(f"{page.total} {noun}").classes("text-sm aip-muted").props(
                "data-testid=catalog-count"
            )
            if not page.items:
                self.empty()
                return
            self.grid = ui.element("div").classes(
                "grid grid-cols-1 md:grid-cols-2 xl:grid-cols-3 gap-4 w-full"
            )
            self.more = ui.row().classes("w-full justify-center")
        self.append(page)

    def append(self, page: Page[ModelInfo] | Page[DatasetInfo]) -> None:
        assert self.grid is not None
        with self.grid:
            for item in page.items:
                if isinstance(item, ModelInfo):
                    model_card(item)
                else:
                    dataset_card(item)
        self.shown += len(page.items)
        self.more.clear()
        if self.shown < self.total:
            with self.more:
                ui.button(
                    f"Load more ({self.total - self.shown} left)",
                    icon="expand_more",
                    on_click=self.load_more,
                ).props("flat no-caps data-testid=catalog-more")

    def load_more(self) -> None:
        try:
            page = self.fetch(self.shown)
        except PlaygroundError as exc:
            show_error(exc)
            return
        self.total = page.total
        self.append(page)

    def empty(self) -> None:
        noun = "models" if self.kind == "models" else "datasets"
        with (
            ui.card()
            .classes("aip-card w-full items-center text-center py-12 px-6 gap-3")
            .props("data-testid=empty-state")
        ):
            if self.filtered():
                ui.icon("search_off", size="3rem").classes("aip-muted")
                ui.label(f"No {noun} match these filters").classes("text-xl font-medium")
                ui.label("Try other words, or clear the filters.").classes("aip-muted")
                ui.button(
                    "Clear filters",
                    icon="filter_alt_off",
                    on_click=lambda: ui.navigate.to(list_path(self.kind)),
                ).props("flat no-caps")
                return
            ui.icon("inventory_2", size="3rem").classes("text-primary opacity-80")
            ui.label(f"No {noun} yet").classes("text-xl font-medium")
            if self.kind == "models":
                text = (
                    "Upload a scikit-learn (skops), ONNX, XGBoost, LightGBM, Keras, PyTorch or "
                    "GGUF model, register a Hugging Face snapshot, or connect a remote KServe "
                    "or OpenAI-compatible server."
                )
            else:
                text = "Upload CSV, Parquet, JSON, ROOT files or a folder of documents."
            ui.label(text).classes("aip-muted max-w-xl")
            if can_write(self.ctx.principal):
                catalog_add.add_buttons(self.ctx, self.kind)
