"""The request card: a JSON editor prefilled for the chosen model, a table upload, the class
probabilities switch and the Send button. The text in the editor is exactly what is sent."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from nicegui import ui

from aiplayground.errors import InvalidInput
from aiplayground.inference.runtimes import PROBA_OUTPUT
from aiplayground.ui.pages.inference_model import ModelPicker
from aiplayground.ui.pages.inference_request import (
    Wire,
    asks_probabilities,
    convert,
    dumps,
    is_v2,
    label_output,
    row_count,
    with_outputs,
)
from aiplayground.ui.pages.inference_style import EDITOR_THEMES, MARK_CLICK
from aiplayground.ui.pages.inference_table import TableUpload
from aiplayground.ui.shell import PageContext


class RequestEditor:
    """The body being written for the picker's model, version and protocol."""

    def __init__(
        self, ctx: PageContext, picker: ModelPicker, on_send: Callable[[], Awaitable[None]]
    ) -> None:
        self.picker = picker
        self.quiet = False
        with ui.card().classes("aip-card p-4 gap-3 min-w-0"):
            with ui.row().classes("w-full items-center gap-1"):
                ui.label("Request").classes("text-lg font-medium")
                ui.space()
                self.upload = TableUpload(ctx, on_rows=self.rows_uploaded)
                ui.button(icon="restart_alt", on_click=self.reset).props(
                    "flat round dense data-testid=request-reset"
                ).tooltip("Back to the model's example")
                ui.button(icon="format_align_left", on_click=self.format).props(
                    "flat round dense data-testid=request-format"
                ).tooltip("Format the JSON")
            self.upload.note_area()
            self.editor = ui.codemirror(
                language="JSON", line_wrapping=True, keymap={"Mod-Enter": on_send}
            )
            self.editor.classes("aip-editor w-full").props("data-testid=request-editor")
            ui.on("aip-dark", lambda e: self.editor.set_theme(EDITOR_THEMES[bool(e.args)]))
            with ui.row().classes("w-full items-center gap-3 no-wrap"):
                self.validity = ui.label().classes("text-xs truncate grow")
                self.validity.props("data-testid=request-validity")
                self.proba = ui.switch("Class probabilities", on_change=self.proba_changed)
                self.proba.props("dense data-testid=proba-switch").classes("text-sm")
                self.proba.tooltip("Ask for predict_proba too (an Open Inference v2 named output)")
                self.send_button = ui.button("Send", icon="send").props(
                    "unelevated no-caps data-testid=send"
                )
                self.send_button.on("click", on_send, js_handler=MARK_CLICK)

    @property
    def text(self) -> str:
        """What the editor holds, as sent."""
        return self.editor.value or ""

    @text.setter
    def text(self, value: str) -> None:
        self.editor.value = value

    def sending(self, busy: bool) -> None:
        """Show the Send button busy (or not)."""
        if busy:
            self.send_button.props("loading")
        else:
            self.send_button.props(remove="loading")

    # following the picker ----------------------------------------------------------------

    def model_changed(self) -> None:
        """A new model or version: its example, and the switch as the model allows."""
        self.update_proba()
        self.reset()
        self.upload.clear()

    def wire_switched(self, previous: Wire) -> bool:
        """Carry the body over to the other protocol; False (and why) when it cannot."""
        body = self.parsed()
        if body is not None:
            try:
                body = convert(body, self.picker.wire, self.picker.specs)
            except InvalidInput as exc:
                ui.notify(f"Kept {previous}: {exc.message}", type="warning", position="top")
                return False
        self.update_proba()
        if body is not None:
            self.set_body(body)
        return True

    def load(self, text: str) -> None:
        """A past request's body, with the switch as that body asked."""
        self.text = text
        if self.proba.visible:
            try:
                self.set_proba(asks_probabilities(orjson.loads(text)))
            except orjson.JSONDecodeError:
                self.set_proba(False)

    # the body ----------------------------------------------------------------------------

    def update_proba(self) -> None:
        offered = self.picker.wire == "v2" and self.picker.probabilities_offered
        self.proba.set_visibility(offered)
        self.set_proba(offered)

    def set_proba(self, value: bool) -> None:
        """Set the switch without rewriting the body (the caller sets the body)."""
        self.quiet = True
        try:
            self.proba.value = value
        finally:
            self.quiet = False

    def labels_only(self) -> None:
        """Turn the switch off and take the probabilities out of the body."""
        self.proba.value = False

    def reset(self) -> None:
        self.set_body(self.picker.prefilled())

    def set_body(self, body: Any) -> None:
        if body is not None and self.proba.visible and is_v2(body):
            wanted = [label_output(self.picker.version), PROBA_OUTPUT] if self.proba.value else None
            body = with_outputs(body, wanted)
        self.text = dumps(body) if body is not None else '{"instances": []}'

    def proba_changed(self) -> None:
        body = None if self.quiet else self.parsed()
        if body is not None:
            self.set_body(body)

    def rows_uploaded(self, body: Any) -> None:
        self.set_body(convert(body, self.picker.wire, self.picker.specs))

    def format(self) -> None:
        body = self.parsed()
        if body is not None:
            self.text = dumps(body)

    def parsed(self) -> Any:
        """The editor's JSON, or None (and a warning) when it does not parse."""
        try:
            return orjson.loads(self.text)
        except orjson.JSONDecodeError as exc:
            ui.notify(f"The request is not valid JSON: {exc}", type="warning", position="top")
            return None

    def check(self) -> tuple[bool, Any]:
        """Whether the text parses (saying so under the editor), and the parsed body."""
        try:
            body = orjson.loads(self.text)
        except orjson.JSONDecodeError as exc:
            self.validity.set_text(f"Not valid JSON: {exc}")
            self.validity.classes(replace="text-xs truncate grow aip-invalid")
            return False, None
        rows = row_count(body)
        count = "" if rows is None else f" · {rows} row" + ("" if rows == 1 else "s")
        self.validity.set_text("Valid JSON" + count)
        self.validity.classes(replace="text-xs truncate grow aip-valid")
        return True, body
