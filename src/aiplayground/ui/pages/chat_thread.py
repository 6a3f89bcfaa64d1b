"""The message thread: the user's messages as text, answers as sanitized Markdown that
re-renders while tokens stream in (at most every 100 ms), and under each answer its
speed, time to first token, token counts and the Copy / Regenerate actions."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from nicegui import ui

from aiplayground.chat.schemas import MessageInfo
from aiplayground.ui.pages.chat_markdown import answer_html

RENDER_EVERY_S = 0.1
# Longer answers are rendered in a thread (markdown-it and bleach take ~1 ms per 100 chars).
RENDER_INLINE_CHARS = 2_000
SUGGESTIONS = (
    "Explain what a particle detector measures, in three sentences.",
    "Write a Python function that returns the invariant mass of two four-vectors.",
    "Give me three tips for writing a clear physics abstract.",
)
CITATION_STYLE = """
<style>
  .aip-sources { align-items: center; }
  .aip-cite-title { font-size: .72rem; opacity: .6; margin-right: .15rem; }
  .aip-cite { display: inline-flex; align-items: center; gap: .35rem; max-width: 16rem;
    padding: .1rem .55rem .1rem .15rem; border-radius: 999px; cursor: pointer;
    font: inherit; font-size: .75rem; color: inherit; background: transparent;
    border: 1px solid rgba(127, 127, 127, .35); transition: background .15s, border .15s; }
  .aip-cite:hover, .aip-cite:focus-visible { background: rgba(127, 127, 127, .12);
    border-color: var(--q-primary); outline: none; }
  .aip-cite-num { display: inline-flex; align-items: center; justify-content: center;
    min-width: 1.15rem; height: 1.15rem; padding: 0 .25rem; border-radius: 999px;
    font-size: .68rem; font-weight: 600; color: white; background: var(--q-primary); }
  .aip-cite-num-lg { min-width: 1.7rem; height: 1.7rem; font-size: .85rem; }
  .aip-cite-name { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
  .aip-cite-card { width: min(42rem, 92vw); max-width: 92vw; gap: .75rem; }
  .aip-cite-text { white-space: pre-wrap; word-break: break-word; font-size: .88rem;
    line-height: 1.5; max-height: 50vh; overflow: auto; width: 100%;
    padding: .75rem .9rem; border-radius: .5rem; background: rgba(127, 127, 127, .08);
    border-left: 3px solid var(--q-primary); }
  .aip-cite-download { display: inline-flex; align-items: center; gap: .3rem;
    font-size: .82rem; text-decoration: none; color: var(--q-primary); }
  .aip-cite-download:hover { text-decoration: underline; }
</style>
"""
FINISH_LABELS = {
    "cancelled": ("Stopped", "stop_circle"),
    "length": ("Reached the token limit", "straighten"),
    "error": ("Failed", "error_outline"),
}


class Thread:
    """The scrolling column of messages of one conversation."""

    def __init__(
        self, on_regenerate: Callable[[], Any], on_suggestion: Callable[[str], Any]
    ) -> None:
        ui.add_head_html(CITATION_STYLE)
        self.on_regenerate = on_regenerate
        self.on_suggestion = on_suggestion
        self.answers: list[AnswerView] = []
        self.welcoming = False
        self.scroller = ui.element("div").classes("aip-pane-body").props("data-testid=chat-thread")
        with self.scroller:
            self.column = ui.element("div").classes("aip-thread")

    def show(self, messages: list[MessageInfo], model: str | None) -> None:
        """Draw a conversation's stored messages (or the welcome for an empty one)."""
        self.column.clear()
        self.answers = []
        self.welcoming = False
        if not messages:
            self._hero(model)
            return
        for message in messages:
            if message.role == "assistant":
                self.add_answer(message)
            else:
                self.add_user(message.content, role=message.role)
        self.update_actions()
        self.scroll(force=True)

    def add_user(self, text: str, *, role: str = "user") -> ui.element:
        """A user's message (or an imported system note), drawn as plain text."""
        self._drop_hero()
        with self.column:
            if role == "system":
                note = ui.label(f"System: {text}").classes("text-sm aip-muted self-center")
                return note.props("data-testid=chat-system")
            return ui.label(text).classes("aip-msg-user").props("data-testid=chat-user")

    def add_answer(self, message: MessageInfo | None = None) -> AnswerView:
        """An answer: finished (from storage) or about to stream (None)."""
        self._drop_hero()
        with self.column:
            view = AnswerView(self, message)
        self.answers.append(view)
        self.update_actions()
        return view

    def remove_last_answer(self) -> None:
        """Take away the last answer (it is being generated again)."""
        if self.answers:
            self.answers.pop().element.delete()

    def update_actions(self) -> None:
        for i, view in enumerate(self.answers):
            view.regenerate.set_visibility(i == len(self.answers) - 1 and view.finished)

    def scroll(self, *, force: bool = False) -> None:
        """Follow the newest text, unless the reader scrolled up to read (or `force`)."""
        near = "true" if force else "e.scrollHeight - e.scrollTop - e.clientHeight < 160"
        self.scroller.client.run_javascript(
            f"const e = document.getElementById('c{self.scroller.id}');"
            f" if (e && ({near})) e.scrollTop = e.scrollHeight;"
        )

    def _hero(self, model: str | None) -> None:
        with self.column, ui.column().classes("aip-hero items-center gap-3"):
            ui.icon("forum", size="2.6rem").classes("text-primary opacity-80")
            ui.label(f"Ask {model or 'the model'} anything").classes("text-xl font-medium")
            ui.label(
                "Answers stream in as the model writes them. Tune generation, the prompt "
                "template and memory in Settings; your conversations are kept in the list."
            ).classes("aip-muted text-sm")
            with ui.column().classes("w-full gap-2 mt-2"):
                for text in SUGGESTIONS:
                    ui.button(
                        text, color=None, on_click=lambda t=text: self.on_suggestion(t)
                    ).classes("aip-suggestion w-full").props(
                        "flat no-caps align=left data-testid=chat-suggestion"
                    )
        self.welcoming = True

    def _drop_hero(self) -> None:
        if self.welcoming:
            self.column.clear()
            self.welcoming = False


class AnswerView:
    """One answer in the thread: its text, its numbers and its actions."""

    def __init__(self, thread: Thread, message: MessageInfo | None) -> None:
        self.thread = thread
        self.text = message.content if message else ""
        self.finished = message is not None
        self._dirty = False
        self._rendering = False
        self._timer: ui.timer | None = None
        with ui.element("div").classes("aip-msg-bot").props("data-testid=chat-answer") as element:
            with ui.element("div").classes("aip-bot-avatar"):
                ui.icon("auto_awesome", size="1.1rem")
            with ui.element("div").classes("aip-bot-body"):
                self.thinking = ui.html(
                    '<span class="aip-thinking"><span></span><span></span><span></span></span>',
                    sanitize=False,  # a constant, no user text
                )
                self.content = ui.html("", sanitize=True).classes("aip-markdown aip-answer")
                self.content.props("data-testid=answer-text")
                self.sources = ui.element("div").classes("aip-sources")
                self.sources.props("data-testid=answer-sources")
                self.sources.set_visibility(False)
                with ui.row().classes("items-center gap-x-2 gap-y-0"):
                    with ui.element("div").classes("aip-msg-actions") as self.actions:
                        ui.button(icon="content_copy", on_click=self.copy).props(
                            "flat round dense size=sm data-testid=answer-copy"
                        ).tooltip("Copy the answer")
                        self.regenerate = ui.button(
                            icon="refresh", on_click=lambda: thread.on_regenerate()
                        ).props("flat round dense size=sm data-testid=answer-regenerate")
                        self.regenerate.tooltip("Answer again")
                    self.meta = (
                        ui.element("div").classes("aip-msg-meta").props("data-testid=answer-meta")
                    )
        self.element = element
        self.thinking.set_visibility(message is None)
        self.actions.set_visibility(message is not None)
        if message is not None:
            self.content.set_content(answer_html(self.text))
            self.finish(message)

    # streaming ---------------------------------------------------------------------------

    def start(self, note: str = "") -> None:
        """Show that the answer is on its way (the model may still be loading)."""
        self.content.classes(add="aip-streaming")
        with self.element:  # goes away with the answer
            self._timer = ui.timer(RENDER_EVERY_S, self._render)
        if note:
            self._meta([("hourglass_top", note)])

    def append(self, delta: str) -> None:
        """Add streamed text; the timer draws it."""
        if not self.text:
            self.thinking.set_visibility(False)
            self._meta([])
        self.text += delta
        self._dirty = True

    async def _render(self) -> None:
        if not self._dirty or self._rendering:
            return
        self._dirty, self._rendering = False, True
        try:
            text = self.text
            if len(text) < RENDER_INLINE_CHARS:
                html = answer_html(text, streaming=True)
            else:  # tens of milliseconds: not on the event loop
                html = await asyncio.to_thread(answer_html, text, streaming=True)
        finally:
            self._rendering = False
        if not self.finished:  # `finish` may have drawn the stored answer meanwhile
            self.content.set_content(html)
            self.thread.scroll()

    def finish(self, message: MessageInfo) -> None:
        """The stored answer: final text, numbers and actions."""
        self._stop_timer()
        self.finished = True
        self.thinking.set_visibility(False)
        self.content.classes(remove="aip-streaming")
        if message.content != self.text or not self.content.content:
            self.text = message.content
            self.content.set_content(answer_html(self.text))
        self._meta(_numbers(message), message.finish_reason)
        self._sources(message.sources)
        self.actions.set_visibility(True)
        self.thread.update_actions()

    def fail(self, text: str) -> None:
        """The answer could not be produced (the reason is the service's message)."""
        self._stop_timer()
        self.finished = True
        self.thinking.set_visibility(False)
        self.content.classes(remove="aip-streaming")
        self._meta([("error_outline", text)], "error")
        self.actions.set_visibility(bool(self.text))
        self.thread.update_actions()

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # parts -------------------------------------------------------------------------------

    def copy(self) -> None:
        ui.clipboard.write(self.text)
        ui.notify("Answer copied", position="top")

    def _meta(self, items: list[tuple[str, str]], finish: str | None = None) -> None:
        self.meta.clear()
        with self.meta:
            if finish in FINISH_LABELS:
                label, icon = FINISH_LABELS[finish]
                with (
                    ui.element("span")
                    .classes("aip-finish" + (" aip-finish-error" if finish == "error" else ""))
                    .props("data-testid=answer-finish")
                ):
                    ui.icon(icon)
                    ui.label(label)
            for symbol, text in items:
                with ui.row().classes("items-center gap-1 no-wrap"):
                    ui.icon(symbol)
                    ui.label(text)

    def _sources(self, sources: list[dict[str, Any]]) -> None:
        """Numbered citation chips; each opens its source passage."""
        self.sources.clear()
        self.sources.set_visibility(bool(sources))
        if not sources:
            return
        with self.sources:
            ui.label("Sources").classes("aip-cite-title")
            for i, source in enumerate(sources, 1):
                meta = source.get("metadata") or {}
                name = str(meta.get("file_name") or source.get("document") or "source")
                page = meta.get("page")
                label = name.rsplit("/", 1)[-1] + (f" · p. {page}" if page else "")
                with (
                    ui.element("button")
                    .classes("aip-cite")
                    .props(f'type=button data-testid=answer-source data-index="{i}"')
                    .on("click", lambda s=source, n=i: self._open_source(n, s)) as chip
                ):
                    ui.label(str(i)).classes("aip-cite-num")
                    ui.label(label).classes("aip-cite-name")
                chip.tooltip("Show the passage")
            searched = searched_for(sources)
            if searched:
                ui.label(f"searched for: {searched}").classes("aip-cite-title").props(
                    "data-testid=answer-searched-for"
                )

    def _open_source(self, number: int, source: dict[str, Any]) -> None:
        with self.element:
            dialog = citation_dialog(number, source)
        dialog.on("hide", dialog.delete)
        dialog.open()


def citation_dialog(number: int, source: dict[str, Any]) -> ui.dialog:
    """A source passage: file, page, heading, score, the text (as text) and a download."""
    meta = source.get("metadata") or {}
    name = str(meta.get("file_name") or source.get("document") or "source")
    base, document = meta.get("knowledge_base"), meta.get("document")
    with (
        ui.dialog().props("data-testid=citation-dialog") as dialog,
        ui.card().classes("aip-cite-card"),
    ):
        with ui.row().classes("w-full items-center no-wrap gap-2"):
            ui.label(str(number)).classes("aip-cite-num aip-cite-num-lg")
            with ui.column().classes("gap-0 min-w-0 grow"):
                ui.label(name).classes("font-medium aip-mono truncate w-full").props(
                    "data-testid=citation-file"
                )
                if base:
                    ui.label(f"Knowledge base {base}").classes("text-xs aip-muted")
            ui.button(icon="close", on_click=dialog.close).props("flat round dense")
        with (
            ui.row().classes("gap-x-4 gap-y-1 text-xs aip-muted").props("data-testid=citation-meta")
        ):
            page = meta.get("page")
            if page:
                ui.label(f"Page {page}")
            if meta.get("heading"):
                ui.label(f"Section: {meta['heading']}")
            score = source.get("score")
            if isinstance(score, int | float):
                ui.label(f"Score {score:.3f}")
            similarity = meta.get("similarity")
            if isinstance(similarity, int | float) and similarity != score:
                ui.label(f"Similarity {similarity:.3f}")
            if meta.get("config_version"):
                ui.label(f"Configuration v{meta['config_version']}")
        # The passage is the document's own text: shown as text, never as HTML.
        ui.label(str(source.get("text") or "")).classes("aip-cite-text").props(
            "data-testid=citation-text"
        )
        if base and document:
            url = (
                f"/api/v1/knowledge-bases/{quote(str(base), safe='')}"
                f"/documents/{quote(str(document), safe='')}/content"
            )
            with (
                ui.row().classes("w-full justify-end"),
                ui.link(target=url)
                .classes("aip-cite-download")
                .props("download data-testid=citation-download"),
            ):
                ui.icon("download", size="1.1rem")
                ui.label("Download the document")
    return dialog


def searched_for(sources: list[dict[str, Any]]) -> str:
    """The standalone question searched for, when retrieval rewrote a follow-up."""
    for source in sources:
        meta = source.get("metadata") or {}
        if meta.get("rewritten") and meta.get("query"):
            return str(meta["query"])
    return ""


def _numbers(message: MessageInfo) -> list[tuple[str, str]]:
    """Speed, time to first token and token counts, as the meta line shows them."""
    timings = message.timings
    items: list[tuple[str, str]] = []
    rate, ttft = timings.get("tokens_per_s"), timings.get("ttft_s")
    if isinstance(rate, int | float):
        items.append(("speed", f"{rate:.1f} tokens/s"))
    if isinstance(ttft, int | float):
        items.append(("timer", f"first token {_seconds(ttft)}"))
    counts = []
    if message.tokens is not None:
        counts.append(f"{message.tokens} tokens")
    prompt = timings.get("prompt_tokens")
    if isinstance(prompt, int):
        counts.append(f"prompt {prompt}")
    if counts:
        items.append(("toll", " · ".join(counts)))
    return items


def _seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"
