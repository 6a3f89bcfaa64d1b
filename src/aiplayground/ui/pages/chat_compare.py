"""Saved evaluation questions in the Chat page's knowledge panel, and the "Compare
retrieval settings" dialog that scores 2-4 configurations on them.

A saved question is a question and the documents that answer it
(`KnowledgeBaseService.add_questions`). The dialog runs `KnowledgeBaseService.compare`
(one retrieval per question and configuration) in a thread, then shows recall@k and MRR
per configuration with the best of each column highlighted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nicegui import ui
from pydantic import ValidationError

from aiplayground.auth.principal import Role
from aiplayground.errors import PlaygroundError
from aiplayground.rag.schemas import (
    ComparedSettings,
    DocumentInfo,
    EvalQuestion,
    EvaluationResult,
    RetrievalConfig,
    RetrievalMode,
    RetrievalOverride,
    SavedQuestion,
)
from aiplayground.ui.pages.catalog_forms import problem_text, warn
from aiplayground.ui.shell import PageContext, show_error

if TYPE_CHECKING:
    from aiplayground.rag.service import KnowledgeBaseService

MIN_CONFIGS, MAX_CONFIGS = 2, 4
DEFAULT_K = 5
LETTERS = "ABCD"

STYLE = """
<style>
  .aip-kb-q { display: flex; align-items: flex-start; gap: .4rem; width: 100%;
    padding: .3rem .5rem; border-radius: .5rem; border: 1px solid rgba(127, 127, 127, .22); }
  .aip-kb-q-main { display: flex; flex-direction: column; min-width: 0; flex: 1 1 auto; }
  .aip-kb-q-text { font-size: .8rem; word-break: break-word; }
  .aip-kb-q-docs { font-size: .7rem; opacity: .7; word-break: break-word; }
  .aip-cmp-card { width: min(46rem, 94vw); max-width: 94vw; gap: .75rem; }
  .aip-cmp-config { display: flex; flex-wrap: wrap; align-items: center; gap: .5rem;
    width: 100%; padding: .4rem .6rem; border-radius: .5rem;
    border: 1px solid rgba(127, 127, 127, .22); }
  .aip-cmp-letter { font-weight: 600; width: 1.2rem; }
  .aip-cmp-table { width: 100%; border-collapse: collapse; font-size: .85rem; }
  .aip-cmp-table th, .aip-cmp-table td { padding: .35rem .5rem; text-align: left;
    border-bottom: 1px solid rgba(127, 127, 127, .22); }
  .aip-cmp-table td.aip-cmp-num { font-variant-numeric: tabular-nums; }
  .aip-cmp-best { color: var(--q-positive); font-weight: 700; }
</style>
"""


class SavedQuestions:
    """The managed base's saved questions: list, add, remove, and the Compare button."""

    def __init__(
        self,
        ctx: PageContext,
        base: Callable[[], str | None],
        service: Callable[[], KnowledgeBaseService],
    ) -> None:
        ui.add_head_html(STYLE)
        self.ctx = ctx
        self.base = base
        self.service = service
        self.items: list[SavedQuestion] = []
        can_write = ctx.principal.role is not Role.VIEWER
        with ui.column().classes("w-full gap-2").props("data-testid=kb-questions") as self.root:
            with ui.row().classes("w-full items-center no-wrap gap-2"):
                self.title = ui.label("Saved questions").classes("text-sm font-medium")
                ui.space()
                ui.button("Compare", icon="leaderboard", on_click=self._compare).props(
                    "flat dense no-caps size=sm data-testid=kb-compare"
                ).tooltip("Compare retrieval settings on the saved questions")
            self.list = ui.element("div").classes("aip-kb-docs")
            with ui.column().classes("w-full gap-2") as self.form:
                self.question = ui.input(
                    "Question", placeholder="e.g. Where is the detector?"
                ).props("outlined dense data-testid=kb-question-text")
                self.question.classes("w-full")
                self.relevant = ui.select(
                    {}, multiple=True, label="Documents that answer it"
                ).props("outlined dense use-chips options-dense data-testid=kb-question-docs")
                self.relevant.classes("w-full")
                with ui.row().classes("w-full justify-end"):
                    ui.button("Save question", icon="bookmark_add", on_click=self._add).props(
                        "unelevated dense no-caps data-testid=kb-question-add"
                    )
            ui.label(
                "Questions with the documents that answer them; Compare scores retrieval "
                "settings on them (recall@k, MRR)."
            ).classes("text-xs aip-muted")
        self.form.set_visibility(can_write)

    def set_documents(self, documents: list[DocumentInfo]) -> None:
        """Offer the base's documents as answers (by file name)."""
        options = {d.name: d.name for d in documents if d.status != "failed"}
        if options != self.relevant.options:
            kept = [v for v in self.relevant.value or [] if v in options]
            self.relevant.set_options(options, value=kept)

    async def load(self) -> None:
        """Show the managed base's saved questions."""
        name = self.base()
        self.root.set_visibility(bool(name))
        if not name:
            self.items = []
            self._draw()
            return
        try:
            page = await asyncio.to_thread(self.service().list_questions, self.ctx.principal, name)
        except PlaygroundError as exc:  # deleted meanwhile, or no longer shared
            self.items = []
            self._draw(exc.message)
            return
        if name == self.base():
            self.items = list(page.items)
            self._draw()

    def _draw(self, problem: str = "") -> None:
        self.title.set_text(f"Saved questions ({len(self.items)})")
        self.list.clear()
        with self.list:
            if problem:
                ui.label(problem).classes("text-xs text-negative")
                return
            for item in self.items:
                with ui.element("div").classes("aip-kb-q").props("data-testid=kb-question"):
                    with ui.element("div").classes("aip-kb-q-main"):
                        ui.label(item.question).classes("aip-kb-q-text")
                        ui.label("→ " + ", ".join(item.relevant)).classes("aip-kb-q-docs")
                    if self.ctx.principal.role is not Role.VIEWER:
                        ui.button(
                            icon="delete_outline", on_click=lambda q=item: self._remove(q)
                        ).props("flat round dense size=sm data-testid=kb-question-remove")

    async def _add(self) -> None:
        with self.root:
            name = self.base()
            if not name:
                return
            try:
                item = EvalQuestion(
                    question=(self.question.value or "").strip(),
                    relevant=list(self.relevant.value or []),
                )
            except ValidationError as exc:
                warn(
                    "Pick at least one document that answers the question."
                    if not self.relevant.value
                    else problem_text(exc)
                )
                return
            try:
                caller = self.ctx.current_principal()
                await asyncio.to_thread(self.service().add_questions, caller, name, [item])
            except PlaygroundError as exc:
                show_error(exc)
                return
            self.question.set_value("")
            self.relevant.set_value([])
            await self.load()

    async def _remove(self, item: SavedQuestion) -> None:
        with self.root:
            name = self.base()
            if not name:
                return
            try:
                caller = self.ctx.current_principal()
                await asyncio.to_thread(self.service().delete_question, caller, name, item.id)
            except PlaygroundError as exc:
                show_error(exc)
                return
            await self.load()

    async def _compare(self) -> None:
        name = self.base()
        if not name:
            return
        with self.root:
            if not self.items:
                warn("Save a question or two first: the comparison runs on them.")
                return
            try:
                info = await asyncio.to_thread(self.service().get, self.ctx.principal, name)
            except PlaygroundError as exc:
                show_error(exc)
                return
            dialog = CompareDialog(self.ctx, self.service(), name, info.config.retrieval)
        dialog.open()


@dataclass
class _Config:
    """One configuration row of the dialog, bound to its inputs."""

    mode: ui.select
    k: ui.number
    mmr: ui.switch
    threshold: ui.number
    element: ui.element
    letter: ui.label

    def settings(self) -> ComparedSettings:
        """What this row asks for; the threshold left empty means none."""
        threshold = self.threshold.value
        override = RetrievalOverride(
            mode=RetrievalMode(self.mode.value),
            mmr=bool(self.mmr.value),
            score_threshold=None if threshold in (None, "") else float(threshold),
        )
        return ComparedSettings(k=int(self.k.value or DEFAULT_K), retrieval=override)


class CompareDialog:
    """2-4 retrieval configurations scored side by side on a base's saved questions."""

    def __init__(
        self,
        ctx: PageContext,
        service: KnowledgeBaseService,
        base: str,
        current: RetrievalConfig,
    ) -> None:
        self.ctx = ctx
        self.service = service
        self.base = base
        self.configs: list[_Config] = []
        with (
            ui.dialog().props("data-testid=compare-dialog") as self.dialog,
            ui.card().classes("aip-cmp-card"),
        ):
            with ui.row().classes("w-full items-center no-wrap"):
                ui.label("Compare retrieval settings").classes("text-lg font-medium")
                ui.space()
                ui.button(icon="close", on_click=self.dialog.close).props("flat round dense")
            ui.label(
                f"Knowledge base {base}: each configuration retrieves for every saved "
                "question; recall@k counts the relevant documents found in the top k, MRR "
                "rewards finding the first one early."
            ).classes("text-xs aip-muted")
            self.rows = ui.column().classes("w-full gap-2")
            with ui.row().classes("w-full items-center gap-2"):
                self.more = ui.button(
                    "Add configuration", icon="add", on_click=lambda: self._add_config()
                ).props("flat dense no-caps data-testid=compare-add")
                ui.space()
                self.run = ui.button("Run", icon="play_arrow", on_click=self._run).props(
                    "unelevated no-caps data-testid=compare-run"
                )
            self.results = ui.element("div").classes("w-full").props("data-testid=compare-results")
        self.dialog.on("hide", self.dialog.delete)
        other = RetrievalMode.HYBRID if current.mode is RetrievalMode.DENSE else RetrievalMode.DENSE
        self._add_config(current.mode, DEFAULT_K, current.mmr, current.score_threshold)
        self._add_config(other, DEFAULT_K, current.mmr, current.score_threshold)

    def open(self) -> None:
        """Show the dialog."""
        self.dialog.open()

    def _add_config(
        self,
        mode: RetrievalMode = RetrievalMode.DENSE,
        k: int = DEFAULT_K,
        mmr: bool = False,
        threshold: float | None = None,
    ) -> None:
        if len(self.configs) >= MAX_CONFIGS:
            return
        with (
            self.rows,
            ui.element("div").classes("aip-cmp-config").props("data-testid=compare-config") as row,
        ):
            letter = ui.label("").classes("aip-cmp-letter")
            mode_input = ui.select(
                {m.value: m.value for m in RetrievalMode}, value=mode.value, label="Mode"
            ).props("outlined dense options-dense data-testid=compare-mode")
            mode_input.classes("w-28")
            k_input = ui.number("Top-k", value=k, min=1, max=100, step=1, precision=0)
            k_input.props("outlined dense data-testid=compare-k").classes("w-20")
            mmr_input = ui.switch("MMR", value=mmr).props("dense data-testid=compare-mmr")
            threshold_input = ui.number(
                "Min. similarity", value=threshold, min=-1, max=1, step=0.05
            ).props("outlined dense clearable data-testid=compare-threshold")
            threshold_input.classes("w-32")
            ui.space()
            config = _Config(mode_input, k_input, mmr_input, threshold_input, row, letter)
            remove = ui.button(icon="close", on_click=lambda c=config: self._remove(c)).props(
                "flat round dense size=sm data-testid=compare-remove"
            )
            remove.tooltip("Remove this configuration")
        self.configs.append(config)
        self._update_buttons()

    def _remove(self, config: _Config) -> None:
        if len(self.configs) <= MIN_CONFIGS:
            return
        self.configs.remove(config)
        self.rows.remove(config.element)
        self._update_buttons()

    def _update_buttons(self) -> None:
        self.more.set_enabled(len(self.configs) < MAX_CONFIGS)
        for letter, config in zip(LETTERS, self.configs, strict=False):
            config.letter.set_text(letter)

    async def _run(self) -> None:
        try:
            settings = [c.settings() for c in self.configs]
        except (ValidationError, ValueError) as exc:
            warn(problem_text(exc) if isinstance(exc, ValidationError) else str(exc))
            return
        self.run.props("loading")
        self.results.clear()
        try:
            caller = self.ctx.current_principal()
            # One retrieval per question and configuration: not on the event loop.
            results = await asyncio.to_thread(self.service.compare, caller, self.base, settings)
        except PlaygroundError as exc:
            show_error(exc)
            return
        finally:
            self.run.props(remove="loading")
        self._draw(settings, results)

    def _draw(self, settings: list[ComparedSettings], results: list[EvaluationResult]) -> None:
        best_recall = max(r.recall_at_k for r in results)
        best_mrr = max(r.mrr for r in results)
        with self.results:
            with ui.element("table").classes("aip-cmp-table"):
                with ui.element("thead"), ui.element("tr"):
                    for title in ("", "Configuration", "Recall@k", "MRR"):
                        with ui.element("th"):
                            ui.label(title)
                with ui.element("tbody"):
                    for i, (config, result) in enumerate(zip(settings, results, strict=True)):
                        best = result.recall_at_k == best_recall and result.mrr == best_mrr
                        with ui.element("tr").props(
                            f'data-testid=compare-row data-best="{str(best).lower()}"'
                        ):
                            _cell(LETTERS[i], "aip-cmp-letter")
                            _cell(describe(config))
                            _number(result.recall_at_k, result.recall_at_k == best_recall)
                            _number(result.mrr, result.mrr == best_mrr)
            ui.label(
                f"{results[0].questions} saved questions · configuration "
                f"v{results[0].config_version}"
                + (
                    f" · unknown documents: {', '.join(results[0].unknown_documents[:5])}"
                    if results[0].unknown_documents
                    else ""
                )
            ).classes("text-xs aip-muted mt-1")


def describe(config: ComparedSettings) -> str:
    """A configuration in a few words: mode, k, MMR, threshold."""
    retrieval = config.retrieval
    parts = [
        (retrieval.mode or RetrievalMode.DENSE).value,
        f"k={config.k}",
        "MMR" if retrieval.mmr else "no MMR",
    ]
    if retrieval.score_threshold is not None:
        parts.append(f"similarity ≥ {retrieval.score_threshold:g}")
    return " · ".join(parts)


def _cell(text: str, classes: str = "") -> None:
    with ui.element("td").classes(classes):
        ui.label(text)


def _number(value: float, best: bool) -> None:
    with ui.element("td").classes("aip-cmp-num" + (" aip-cmp-best" if best else "")):
        ui.label(f"{value:.3f}").props("data-testid=compare-best" if best else "")
