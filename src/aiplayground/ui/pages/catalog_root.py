"""The ROOT section of a dataset version: trees, a branch table with per-branch summaries,
and the multiplicity histogram of a jagged branch with the suggested padding length marked.

The summary reads every event (in chunks), so it is computed off the event loop while a
spinner shows; a file that cannot be read shows its error in the section, the page stays.
Every name and type comes from a user's file and is drawn as text.
"""

from __future__ import annotations

from typing import Any

from nicegui import run, ui

from aiplayground.errors import PlaygroundError
from aiplayground.hep.preprocessing import suggest_pad_length
from aiplayground.hep.version_summary import summarize_version
from aiplayground.ui.pages.catalog_common import chip, human_size, section_title
from aiplayground.ui.shell import PageContext

PAD_QUANTILE = 0.95  # the suggested N holds every object of this share of the events
TREE_ACCENT = "#0f766e"


def has_root_files(paths: list[str]) -> bool:
    """True when a version holds at least one `.root` file."""
    return any(p.lower().endswith(".root") for p in paths)


class RootSection:
    """Drawn at once with a spinner; filled in when the summary is ready."""

    def __init__(self, ctx: PageContext, dataset: str, version: int) -> None:
        self.ctx = ctx
        self.dataset = dataset
        self.version = version
        with ui.column().classes("w-full gap-3").props("data-testid=root-section"):
            section_title("ROOT")
            self.body = ui.column().classes("w-full gap-3")
            with (
                self.body,
                ui.row().classes("items-center gap-2").props("data-testid=root-loading"),
            ):
                ui.spinner(size="1.4rem")
                ui.label("Reading the events (min, max, mean and multiplicities)…").classes(
                    "text-sm aip-muted"
                )
        # After the page is drawn: the summary may take seconds on a large file.
        ui.timer(0.05, self.load, once=True)

    async def load(self) -> None:
        """Compute (or take from the cache) the summary and draw it."""
        try:
            caller = self.ctx.current_principal()
            summary = await run.io_bound(
                summarize_version, self.ctx.platform, caller, self.dataset, self.version
            )
        except PlaygroundError as exc:
            self.body.clear()
            with (
                self.body,
                ui.row().classes("items-start gap-2 no-wrap").props("data-testid=root-error"),
            ):
                ui.icon("error_outline", size="1.2rem").classes("text-negative")
                ui.label(exc.message).classes("text-sm break-words")
            return
        if summary is None or self.body.is_deleted:
            return  # the server is stopping, or another version was chosen meanwhile
        self.body.clear()
        with self.body:
            files = summary.get("files") or []
            for item in files:
                if len(files) > 1:
                    with ui.row().classes("items-center gap-2"):
                        ui.icon("insert_drive_file", size="1.1rem").classes("aip-muted")
                        ui.label(str(item.get("path", ""))).classes("aip-mono text-sm")
                        ui.label(human_size(int(item.get("size") or 0))).classes(
                            "text-xs aip-muted"
                        )
                trees = [t for t in item.get("trees") or [] if isinstance(t, dict)]
                if not trees:
                    ui.label("No TTree or RNTuple in this file.").classes("text-sm aip-muted")
                for index, tree in enumerate(trees):
                    TreeView(tree, expanded=index == 0)


class TreeView:
    """One tree: kind and entries, the branch table, and a multiplicity histogram."""

    def __init__(self, tree: dict[str, Any], expanded: bool) -> None:
        self.branches = [b for b in tree.get("branches") or [] if isinstance(b, dict)]
        self.jagged = {
            str(b["name"]): b["summary"]["multiplicity"]
            for b in self.branches
            if b.get("jagged")
            and isinstance(b.get("summary"), dict)
            and isinstance(b["summary"].get("multiplicity"), dict)
        }
        entries = tree.get("entries")
        with (
            ui.expansion(value=expanded)
            .classes("w-full aip-metric")
            .props("dense data-testid=root-tree") as expansion
        ):
            with expansion.add_slot("header"), ui.row().classes("items-center gap-2 w-full"):
                ui.icon("account_tree", size="1.1rem").classes("aip-muted")
                ui.label(str(tree.get("name", ""))).classes("aip-mono font-medium").props(
                    "data-testid=root-tree-name"
                )
                chip(str(tree.get("kind", "TTree")), accent=TREE_ACCENT, testid="root-tree-kind")
                if isinstance(entries, int):
                    chip(f"{entries:,} entries", outline=True, testid="root-tree-entries")
                chip(f"{len(self.branches)} branches", outline=True)
                if self.jagged:
                    chip(f"{len(self.jagged)} jagged", outline=True)
            with ui.column().classes("w-full gap-3 pt-2"):
                self.table()
                if self.jagged:
                    self.histogram_area()

    def table(self) -> None:
        columns = [
            {"name": "name", "label": "Branch", "field": "name", "align": "left"},
            {"name": "type", "label": "Type", "field": "type", "align": "left"},
            {"name": "jagged", "label": "Jagged", "field": "jagged", "align": "left"},
            {"name": "min", "label": "Min", "field": "min", "align": "right"},
            {"name": "max", "label": "Max", "field": "max", "align": "right"},
            {"name": "mean", "label": "Mean", "field": "mean", "align": "right"},
        ]
        rows = []
        for branch in self.branches:
            found = branch.get("summary")
            summary: dict[str, Any] = found if isinstance(found, dict) else {}
            rows.append(
                {
                    "name": str(branch.get("name", "")),
                    "type": str(branch.get("type", "")),
                    "jagged": "yes" if branch.get("jagged") else "no",
                    **{k: _number(summary.get(k)) for k in ("min", "max", "mean")},
                }
            )
        with ui.row().classes("w-full items-center gap-2"):
            ui.label("Click a jagged branch to see its multiplicity.").classes(
                "text-xs aip-muted"
            ).set_visibility(bool(self.jagged))
            ui.space()
            search = ui.input(placeholder="Filter branches").props(
                "dense outlined clearable data-testid=root-branch-filter"
            )
            search.classes("w-56")
        table = ui.table(columns=columns, rows=rows, row_key="name")
        table.classes("aip-table w-full" + (" aip-table-scroll" if len(rows) > 12 else ""))
        table.props("flat dense hide-bottom data-testid=root-branches")
        table.props(":pagination='{\"rowsPerPage\": 0}'")
        search.bind_value_to(table, "filter")
        table.on("rowClick", self._row_clicked)

    def histogram_area(self) -> None:
        names = list(self.jagged)
        first = next((n for n in names if n.lower().startswith("muon")), names[0])
        with ui.row().classes("w-full items-center gap-3"):
            ui.label("Multiplicity of").classes("text-sm font-medium")
            self.select = ui.select(
                names, value=first, with_input=True, on_change=lambda e: self.show(e.value)
            ).props("outlined dense options-dense data-testid=root-jagged-select")
            self.select.classes("min-w-[14rem]")
            self.caption = (
                ui.label().classes("text-sm aip-muted").props("data-testid=root-suggested")
            )
        self.chart = ui.echart(_histogram_options(first, self.jagged[first])).classes("w-full h-64")
        self.chart.props("data-testid=root-multiplicity")
        self.show(first)

    def _row_clicked(self, e: Any) -> None:
        args = e.args if isinstance(e.args, list) else []
        row = args[1] if len(args) > 1 and isinstance(args[1], dict) else {}
        name = row.get("name")
        if name in self.jagged:
            self.select.value = name  # on_change redraws the chart

    def show(self, name: str | None) -> None:
        """Draw the multiplicity histogram of one jagged branch."""
        if name not in self.jagged:
            return
        histogram = self.jagged[name]
        options = _histogram_options(name, histogram)
        self.chart.options.clear()
        self.chart.options.update(options)
        self.chart.update()
        suggested = _suggested(histogram)
        self.caption.text = (
            f"suggested N = {suggested} (holds every object of {PAD_QUANTILE:.0%} of the events)"
            if suggested is not None
            else ""
        )


def _suggested(histogram: dict[str, Any]) -> int | None:
    """The summary's own suggestion if it has one, else the preprocessing's rule."""
    given = histogram.get("suggested")
    if isinstance(given, int):
        return given
    try:
        return suggest_pad_length(histogram, PAD_QUANTILE)
    except (KeyError, ValueError, TypeError):
        return None


def _histogram_options(name: str, histogram: dict[str, Any]) -> dict[str, Any]:
    bins = [str(b) for b in histogram.get("bins") or []]
    counts = list(histogram.get("counts") or [])
    series: dict[str, Any] = {"type": "bar", "data": counts, "barMaxWidth": 36, "name": name}
    suggested = _suggested(histogram)
    if suggested is not None and str(suggested) in bins:
        series["markLine"] = {
            "symbol": "none",
            "silent": True,
            "lineStyle": {"type": "dashed", "color": "#dc2626"},
            "label": {"formatter": f"N = {suggested}", "position": "end"},
            "data": [{"xAxis": str(suggested)}],
        }
    return {
        "grid": {"left": 56, "right": 24, "top": 32, "bottom": 40},
        "tooltip": {"trigger": "axis"},
        "xAxis": {
            "type": "category",
            "data": bins,
            "name": "objects per event",
            "nameLocation": "middle",
            "nameGap": 26,
        },
        "yAxis": {"type": "value", "name": "events", "minInterval": 1},
        "series": [series],
        "animation": False,
    }


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "—"
    return f"{value:.6g}"
