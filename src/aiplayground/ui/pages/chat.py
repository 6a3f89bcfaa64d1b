"""Chat: stream answers from the catalog's text-generation models, like a chat app.

Three panes: the caller's conversations (left), the thread with the composer (middle) and
the settings (right: generation parameters the model's provider supports, prompt
template, memory). The page calls `platform.chat` directly: `send_message` /
`regenerate` start an answer whose `Reply.events()` stream is consumed on the event loop
and drawn as it arrives; Stop fires the conversation's cancel token, which stops the
model worker within a second. /chat?c=ID opens a conversation.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from nicegui import ui

from aiplayground.auth.principal import Role
from aiplayground.catalog.schemas import ModelInfo
from aiplayground.chat.schemas import ConversationInfo
from aiplayground.chat.service import Reply
from aiplayground.errors import PlaygroundError
from aiplayground.ui.pages import catalog_style, chat_style
from aiplayground.ui.pages.chat_answers import Answering
from aiplayground.ui.pages.chat_common import in_root
from aiplayground.ui.pages.chat_controls import Composer, ModelPicker
from aiplayground.ui.pages.chat_conversations import ConversationList
from aiplayground.ui.pages.chat_settings import SettingsPanel
from aiplayground.ui.pages.chat_thread import Thread
from aiplayground.ui.shell import (
    NAV,
    PageContext,
    empty_state,
    page_title,
    show_error,
    signed_in_page,
)

if TYPE_CHECKING:
    from aiplayground.app import Platform

STATUS_EVERY_S = 1.5


def register(platform: Platform) -> None:
    """Register the Chat page at /chat."""

    @signed_in_page(platform, NAV["chat"])
    async def chat(ctx: PageContext) -> None:
        await ChatPage(ctx).draw()


class ChatPage(Answering):
    """One browser tab's chat: the open conversation, the selected model, the live answer."""

    def __init__(self, ctx: PageContext) -> None:
        self.ctx = ctx
        self.service = ctx.platform.chat
        self.models: dict[str, ModelInfo] = {}
        self.model: str | None = None
        self.conversation: ConversationInfo | None = None
        self.reply: Reply | None = None
        self.busy = False
        self.stop_requested = False

    # drawing -----------------------------------------------------------------------------

    async def draw(self) -> None:
        catalog_style.add_style()  # Markdown styles
        chat_style.add_style()
        # A chat wants the room: widen the shell's content column for this page.
        ui.context.slot.parent.classes(
            remove="max-w-6xl py-8 gap-6", add="max-w-[110rem] py-4 gap-3"
        )
        with ui.element("div").classes("aip-chat-title"):
            page_title("Chat", NAV["chat"].purpose)
        found = await asyncio.to_thread(self.service.text_models, self.ctx.principal)
        self.models = {m.name: m for m in found}
        if not self.models:
            self._no_models()
            return
        with ui.element("div").classes("aip-chat-grid") as self.grid:
            with ui.element("div").classes("aip-pane aip-convs aip-sheet"):
                self.convs = ConversationList(self.ctx, self, lambda: self._flip("convs", False))
            with ui.element("div").classes("aip-pane"):
                self._head()
                self.thread = Thread(self.regenerate, self.send)
                self.composer = Composer(
                    lambda: self.send(),
                    self.stop,
                    read_only=self.ctx.principal.role is Role.VIEWER,
                )
            with (
                ui.element("div")
                .classes("aip-pane aip-settings aip-sheet")
                .props("data-testid=chat-settings")
            ):
                self.settings = SettingsPanel(
                    self.ctx, lambda: None, lambda: self._flip("settings", False)
                )
        await self.settings.refresh()
        query = self.ctx.request.query_params
        if not (query.get("c") and await self.open(query["c"])):
            await self.new_chat(model=query.get("model"))
        ui.timer(STATUS_EVERY_S, self._poll_status)
        ui.context.client.on_delete(self._abandon)

    def _no_models(self) -> None:
        empty_state(
            "forum",
            "No text-generation model yet",
            "Chat talks to the catalog's text-generation models. Upload a GGUF file or a "
            "Hugging Face causal-LM folder, or register an OpenAI-compatible server, with the "
            "objective “Text generation”.",
            [],
        )
        ui.button(
            "Open the catalog",
            icon="inventory_2",
            on_click=lambda: ui.navigate.to("/catalog?tab=models&objective=text-generation"),
        ).props("unelevated no-caps").classes("self-center")

    def _head(self) -> None:
        with ui.element("div").classes("aip-pane-head"):
            ui.button(icon="forum", on_click=lambda: self._flip("convs")).props(
                "flat round dense data-testid=chat-toggle-conversations"
            ).tooltip("Conversations")
            self.picker = ModelPicker(list(self.models), self._model_picked)
            ui.space()
            ui.button(icon="tune", on_click=lambda: self._flip("settings")).props(
                "flat round dense data-testid=chat-toggle-settings"
            ).tooltip("Settings")

    def _flip(self, pane: str, value: bool | None = None) -> None:
        """Toggle a pane from its default state (shown on wide screens, a sheet on narrow)."""
        name = f"aip-{pane}-flip"
        on = name not in self.grid.classes if value is None else value
        if on:
            self.grid.classes(add=name)
        else:
            self.grid.classes(remove=name)

    # model -------------------------------------------------------------------------------

    @in_root
    async def _model_picked(self, name: str) -> None:
        if name == self.model:
            return
        await self.select_model(name)
        if not self.conversation:
            self.thread.show([], name)

    async def select_model(self, name: str, settings: dict[str, Any] | None = None) -> None:
        """Use a model: its provider decides which generation settings are shown."""
        self.model = name
        self.picker.set(name)
        try:
            options = await self.service.model_options(self.ctx.current_principal(), name)
        except PlaygroundError as exc:
            options = {
                "supported_params": [],
                "defaults": {},
                "state": "failed",
                "detail": exc.message,
            }
        keep = self.settings.params.values if settings is None else settings
        dropped = self.settings.set_provider(options, keep)
        if dropped and settings is None:
            ui.notify(f"{name} does not take {', '.join(dropped)}; left out", position="top")
        self.picker.show(str(options.get("state", "unloaded")), str(options.get("detail") or ""))

    def _poll_status(self) -> None:
        if self.model is None:
            return
        state = self.service.pool.states().get(self.model)
        if state is not None and state != self.picker.state:
            self.picker.show(state)

    # conversations -----------------------------------------------------------------------

    @in_root
    async def new_chat(self, model: str | None = None) -> None:
        """An empty thread; the conversation is stored with the first question."""
        await self._stop_running()
        self.conversation = None
        choice = model if model in self.models else (self.model or next(iter(self.models)))
        # The pane's setup first: the model's parameters appearing is the page saying it is
        # ready, and a base attached after that must not be reset by a late load.
        await self.settings.load(None)
        await self.select_model(choice, {})
        self.thread.show([], choice)
        ui.navigate.history.replace("/chat")
        self._flip("convs", False)
        await self.convs.refresh()
        self.composer.focus()

    @in_root
    async def open(self, conversation_id: str) -> bool:
        """Show a stored conversation with its model and settings; False if not found."""
        try:
            detail = await asyncio.to_thread(
                self.service.conversations.get, self.ctx.current_principal(), conversation_id
            )
        except PlaygroundError as exc:
            show_error(exc)
            return False
        await self._stop_running()
        self.conversation = detail
        await self.settings.load(detail)
        await self.select_model(detail.model, detail.settings)
        self.thread.show(detail.messages, detail.model)
        ui.navigate.history.replace(f"/chat?c={detail.id}")
        self._flip("convs", False)
        await self.convs.refresh()
        return True

    def renamed(self, conversation: ConversationInfo) -> None:
        """A conversation got a new title."""
        if self.conversation is not None and self.conversation.id == conversation.id:
            self.conversation = conversation

    @in_root
    async def deleted(self, conversation_id: str) -> None:
        """A conversation is gone: leave it if it is the open one."""
        if self.conversation is not None and self.conversation.id == conversation_id:
            await self.new_chat()
        else:
            await self.convs.refresh()
