"""Inference: pick a model, write or upload events, send them, look at the predictions.

The page is one more door to the data plane: it decodes the editor's text with the codec of
the chosen protocol (the functions the /v1 and /v2 routes call), awaits
`platform.inference.infer()`, and shows what the route would answer, errors included. The
URL keeps the model, version and protocol (`/inference?model=iris&protocol=v1`). For a
version that carries a preprocessing, a ROOT file goes through `hep.predict.predict_root`,
as the `predict-root` route sends it, and comes back per event (see inference_root).
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import orjson
from nicegui import ui

from aiplayground.api.errors import STATUS_BY_CODE, error_body
from aiplayground.errors import PlaygroundError, TooLarge
from aiplayground.hep.predict import predict_root
from aiplayground.inference.runtimes import PROBA_OUTPUT
from aiplayground.ui.pages import inference_result as result
from aiplayground.ui.pages.catalog_style import add_style as add_catalog_style
from aiplayground.ui.pages.inference_editor import RequestEditor
from aiplayground.ui.pages.inference_history import HISTORY, Entry, history_card, now, session_key
from aiplayground.ui.pages.inference_model import ModelPicker
from aiplayground.ui.pages.inference_request import Wire, decode, encode
from aiplayground.ui.pages.inference_root import RootAnswer, RootUpload, answer_view, class_names
from aiplayground.ui.pages.inference_snippets import Call, code_panel
from aiplayground.ui.pages.inference_style import PAGE_SCRIPT, ROUND_TRIP, add_style
from aiplayground.ui.shell import NAV, PageContext, page_title, signed_in_page

if TYPE_CHECKING:
    from aiplayground.app import Platform

THREAD_DECODE_BYTES = 256_000  # decode bigger bodies off the event loop


def register(platform: Platform) -> None:
    """Register the Inference page at /inference."""

    @signed_in_page(platform, NAV["inference"])
    async def inference(ctx: PageContext) -> None:
        await InferencePage(ctx).draw()


class InferencePage:
    """The model a request goes to, the request being written, and what came back."""

    def __init__(self, ctx: PageContext) -> None:
        self.ctx = ctx
        self.service = ctx.platform.inference
        settings = ctx.platform.settings
        self.max_elements = settings.inference.max_elements
        # The routes' own limit on a JSON body.
        self.max_body = min(settings.inference.max_request_bytes, settings.limits.max_json_bytes)
        self.history_key = session_key(ctx.user.name)
        self.sending = False
        self.shown: Call | None = None  # the request the snippets show

    async def draw(self) -> None:
        add_catalog_style()
        add_style()
        page_title("Inference", NAV["inference"].purpose)
        self.picker = ModelPicker(self.ctx, on_change=self.model_changed, on_wire=self.switched)
        if not self.picker.load():
            return
        with ui.element("div").classes("grid grid-cols-1 lg:grid-cols-2 gap-4 w-full items-start"):
            with ui.column().classes("gap-4 min-w-0 items-stretch"):
                self.root = RootUpload(self.ctx, on_send=self.send_root)
                self.editor = RequestEditor(self.ctx, self.picker, on_send=self.send)
            with ui.card().classes("aip-card p-4 gap-3 min-w-0"):
                ui.label("Response").classes("text-lg font-medium")
                self.timing = ui.row().classes("w-full items-center gap-2 -mt-1")
                self.result = ui.column().classes("w-full gap-3").props("data-testid=result")
                self.placeholder()
        with ui.card().classes("aip-card w-full p-4 gap-2"):
            ui.label("Call it from your code").classes("text-lg font-medium")
            self.code = ui.column().classes("w-full gap-2").props("data-testid=code")
        self.history = history_card(self.clear_history)
        self.draw_history()
        ui.timer(0.3, self.refresh_derived)
        ui.run_javascript(PAGE_SCRIPT)
        await self.picker.start()

    def placeholder(self) -> None:
        with (
            self.result,
            ui.column().classes("aip-placeholder w-full items-center justify-center gap-2 p-6"),
        ):
            ui.icon("insights", size="2.6rem").classes("text-primary opacity-70")
            ui.label("Send the request to see what the model predicts.").classes("aip-muted")
            ui.label("Ctrl+Enter (⌘+Enter) in the editor sends it.").classes("text-xs aip-muted")

    # following the picker ----------------------------------------------------------------

    async def model_changed(self) -> None:
        """A new model or version: a fresh body, and the URL says which."""
        self.editor.model_changed()
        self.root.model_changed(self.picker.version, self.picker.probabilities_offered)
        self.update_url()

    def switched(self, previous: Wire) -> None:
        """Another protocol: the body follows, or the protocol goes back if it cannot."""
        if self.editor.wire_switched(previous):
            self.update_url()
        else:
            self.picker.set_wire(previous)

    def update_url(self) -> None:
        picker = self.picker
        query = {"model": picker.name, "protocol": picker.wire}
        if picker.version is not None and picker.wire == "v2":
            query["version"] = str(picker.version.version)
        ui.navigate.history.replace(f"/inference?{urlencode(query)}")

    def refresh_derived(self) -> None:
        """Check the JSON and redraw the snippets when the request changed (a few times a
        second at most)."""
        if self.picker.info is None or self.picker.busy:
            return
        text = self.editor.text
        if self.shown is not None and self.call(text) == self.shown:
            return
        self.shown = self.call(text)
        valid, body = self.editor.check()
        if valid:
            self.code.clear()
            with self.code:
                code_panel(self.call(body))

    def call(self, body: Any) -> Call:
        """The request to the chosen model, version and protocol with this body."""
        picker = self.picker
        version = picker.version.version if picker.version and picker.wire == "v2" else None
        return Call(self.ctx.platform.settings.public_url, picker.name, version, picker.wire, body)

    # sending -----------------------------------------------------------------------------

    async def send(self) -> None:
        """Send the editor's body through infer() and show the answer."""
        if self.sending or self.picker.info is None:
            return
        if self.picker.busy:
            ui.notify("Wait a moment: the model is loading.", position="top")
            return
        self.sending = True
        self.editor.sending(True)
        try:
            await self._send(self.editor.text, retry_labels_only=True)
        finally:
            self.sending = False
            self.editor.sending(False)

    async def _send(self, text: str, *, retry_labels_only: bool) -> None:
        call = self.call(None)
        loaded = self.picker.loaded()
        started = time.perf_counter()
        infer_ms: float | None = None
        try:
            principal = self.ctx.current_principal()
            raw = text.encode()
            if len(raw) > self.max_body:
                raise TooLarge(f"the request body exceeds {self.max_body} bytes")
            if len(raw) > THREAD_DECODE_BYTES:
                request = await asyncio.to_thread(decode, call.wire, raw, self.max_elements)
            else:
                request = decode(call.wire, raw, self.max_elements)
            began = time.perf_counter()
            response = await self.service.infer(principal, call.model, call.version, request)
            infer_ms = (time.perf_counter() - began) * 1000
            answer, size = encode(call.wire, response, request)
        except PlaygroundError as exc:
            if (
                retry_labels_only
                and self.editor.proba.value
                and f"output {PROBA_OUTPUT!r}" in exc.message
            ):
                ui.notify("This model answers labels only.", position="top")
                self.editor.labels_only()
                await self._send(self.editor.text, retry_labels_only=False)
                return
            status = STATUS_BY_CODE.get(exc.code, 500)
            body = orjson.loads(error_body(call.path, status, exc.code, exc.message, exc.details))
            timing = result.Timing(infer_ms, (time.perf_counter() - started) * 1000)
            self.show(status, timing)
            with self.result:
                result.error_view(status, exc.message, body)
            self.remember(call, text, status, None, timing)
            await self.round_trip()
            return
        timing = result.Timing(infer_ms, (time.perf_counter() - started) * 1000, loaded)
        found = result.predictions(answer, self.picker.classifier)
        self.show(200, timing)
        with self.result:
            result.predictions_view(found, answer, size)
        self.remember(call, text, 200, found.rows, timing)
        self.picker.draw_strip()  # the model is loaded now
        await self.round_trip()

    async def send_root(self) -> None:
        """Send the uploaded ROOT file through the version's preprocessing, event by event."""
        picker, upload = self.picker, self.root
        if self.sending or picker.info is None or picker.version is None:
            return
        if upload.file is None or upload.tree is None:
            ui.notify("Upload a ROOT file first.", position="top")
            return
        file, tree, version = upload.file, upload.tree, picker.version
        path = f"/api/v1/models/{picker.name}/predict-root"
        self.sending = True
        upload.sending(True)
        loaded = picker.loaded()
        started = time.perf_counter()
        try:
            predictions = await predict_root(
                self.ctx.platform,
                self.ctx.current_principal(),
                picker.name,
                version.version,
                file.path,
                tree,
                output=PROBA_OUTPUT if upload.probabilities else None,
            )
        except PlaygroundError as exc:
            status = STATUS_BY_CODE.get(exc.code, 500)
            body = orjson.loads(error_body(path, status, exc.code, exc.message, exc.details))
            self.show(status, result.Timing(None, (time.perf_counter() - started) * 1000))
            with self.result:
                result.error_view(status, exc.message, body)
            await self.round_trip()
            return
        finally:
            self.sending = False
            upload.sending(False)
        # Reading, preprocessing and inference together: what the route's caller waits for.
        timing = result.Timing(None, (time.perf_counter() - started) * 1000, loaded)
        answer = RootAnswer(
            predictions, file.path, file.name, file.trees.get(tree), class_names(version)
        )
        upload.pin(file.path)
        self.show(200, timing)
        with self.result:
            answer_view(answer, self.ctx.platform.staging)
        picker.draw_strip()  # the model is loaded now
        await self.round_trip()

    def show(self, status: int, timing: result.Timing) -> None:
        self.result.clear()
        self.timing.clear()
        with self.timing:
            self.chips = result.timing_chips(status, timing)

    async def round_trip(self) -> None:
        """Ask the browser how long ago the click was, once it has drawn the answer."""
        chips = self.chips
        elapsed = await ui.run_javascript(ROUND_TRIP, timeout=5)
        if isinstance(elapsed, int | float) and not chips.is_deleted:
            result.round_trip_chip(chips, float(elapsed))

    # history -----------------------------------------------------------------------------

    def remember(
        self, call: Call, text: str, status: int, rows: int | None, timing: result.Timing
    ) -> None:
        entry = Entry(
            at=now(),
            model=call.model,
            version=call.version,
            wire=call.wire,
            body=text,
            status=status,
            rows=rows,
            server_ms=timing.server_ms,
        )
        HISTORY.add(self.history_key, entry)
        self.draw_history()

    def draw_history(self) -> None:
        self.history.clear()
        with self.history:
            HISTORY.draw(self.history_key, self.load_entry, self.replay)

    async def load_entry(self, entry: Entry) -> bool:
        """Put a past request back: its model, version, protocol and body."""
        if entry.body is None or self.sending:
            return False
        if not await self.picker.choose(entry.model, entry.version, entry.wire):
            return False
        self.editor.load(entry.body)
        return True

    async def replay(self, entry: Entry) -> None:
        if await self.load_entry(entry):
            await self.send()

    def clear_history(self) -> None:
        HISTORY.clear(self.history_key)
        self.draw_history()
