"""The Chat page's two controls: the model picker with its status dot, and the composer
with Send and Stop."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from nicegui import ui

# provider state -> (label, dot class, tooltip)
STATUS = {
    "loaded": ("Loaded", "aip-dot-loaded", "The model is loaded and answers at once."),
    "loading": ("Loading", "aip-dot-loading", "The model is being loaded."),
    "unloaded": ("Ready", "", "The model loads when you send the first message."),
    "remote": ("Remote", "aip-dot-remote", "Served by a remote server."),
    "failed": ("Failed", "aip-dot-failed", "The model could not be loaded."),
}


class ModelPicker:
    """The model server selector; the dot shows loaded, ready, remote or failed."""

    def __init__(self, names: list[str], on_pick: Callable[[str], Awaitable[None]]) -> None:
        self.on_pick = on_pick
        self.state = "unloaded"
        self.quiet = False
        self.select = ui.select({n: n for n in names}, label="Model").props(
            "outlined dense options-dense data-testid=chat-model"
        )
        self.select.classes("w-64 max-w-[55vw]")
        with self.select.add_slot("prepend"):
            self.dot = ui.element("span").classes("aip-dot").props("data-testid=chat-status")
            self.tip = ui.tooltip("")
        self.select.on_value_change(self._picked)
        self.label = ui.label("").classes("aip-status-label text-xs aip-muted")
        self.label.props("data-testid=chat-status-label")

    async def _picked(self, event: Any) -> None:
        if not self.quiet and event.value:
            await self.on_pick(event.value)

    def set(self, name: str) -> None:
        """Show `name` as the selected model (without calling `on_pick`)."""
        options = dict(self.select.options)
        if name not in options:  # a conversation's model that is gone: still shown
            self.select.set_options({**options, name: name})
        self.quiet = True
        try:
            self.select.set_value(name)
        finally:
            self.quiet = False

    def show(self, state: str, detail: str = "") -> None:
        """Draw a provider state (see `ProviderState`)."""
        self.state = state
        label, dot, tip = STATUS.get(state, (state.capitalize(), "", ""))
        self.dot.classes(replace=f"aip-dot {dot}".strip())
        self.dot.props(f"data-state={state}")
        self.label.text = label
        self.tip.text = f"{tip} {detail}".strip()


class Composer:
    """Where the question is written; Send turns into Stop while an answer streams."""

    def __init__(
        self,
        on_send: Callable[[], Awaitable[None]],
        on_stop: Callable[[], Awaitable[None]],
        *,
        read_only: bool,
    ) -> None:
        with ui.element("div").classes("aip-composer-wrap"):
            with ui.element("div").classes("aip-composer"):
                self.input = ui.textarea(placeholder="Ask anything").props(
                    "autogrow borderless dense rows=1 data-testid=chat-input"
                )
                self.input.classes("grow self-center")
                self.input.on("keydown.enter.exact.prevent", on_send)
                self.send_button = ui.button(icon="arrow_upward", on_click=on_send)
                self.send_button.props("round unelevated dense color=primary data-testid=chat-send")
                self.send_button.tooltip("Send (Enter)")
                self.stop_button = ui.button(icon="stop", on_click=on_stop)
                self.stop_button.props(
                    "round unelevated dense color=negative data-testid=chat-stop"
                )
                self.stop_button.tooltip("Stop the answer")
                self.stop_button.set_visibility(False)
            hint = "Enter sends, Shift+Enter starts a new line. Models can be wrong."
            if read_only:
                hint = "Your role is viewer: you can read, not chat."
                self.input.disable()
                self.send_button.disable()
            ui.label(hint).classes("aip-composer-hint")

    @property
    def text(self) -> str:
        """The question written so far."""
        return str(self.input.value or "")

    @text.setter
    def text(self, value: str) -> None:
        self.input.value = value

    def busy(self, busy: bool) -> None:
        """Show Stop while an answer is being written, Send otherwise."""
        if not busy:
            self.stop_button.enable()
        self.send_button.set_visibility(not busy)
        self.stop_button.set_visibility(busy)

    def stopping(self) -> None:
        """Stop was pressed: it cannot be pressed again for this answer."""
        self.stop_button.disable()

    def focus(self) -> None:
        """Put the cursor in the composer."""
        self.input.run_method("focus")
