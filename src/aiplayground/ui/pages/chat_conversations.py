"""The conversation list: new, open, search, rename, delete, export as Markdown or JSON,
and import of an exported JSON conversation. Conversations are private to their owner;
the conversation store checks that on every call."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from nicegui import ui
from nicegui.events import UploadEventArguments

from aiplayground.chat.schemas import ConversationInfo, ConversationUpdate
from aiplayground.errors import PlaygroundError
from aiplayground.ui.pages.catalog_common import ago
from aiplayground.ui.pages.chat_common import in_root
from aiplayground.ui.pages.chat_import import MAX_IMPORT_BYTES, import_conversation
from aiplayground.ui.shell import PageContext, show_error

if TYPE_CHECKING:
    from aiplayground.ui.pages.chat import ChatPage

LIST_SIZE = 100


class ConversationList:
    """The left-hand pane."""

    def __init__(self, ctx: PageContext, page: ChatPage, on_close: Callable[[], None]) -> None:
        self.ctx = ctx
        self.page = page
        self.service = ctx.platform.chat
        self.q = ""
        with ui.element("div").classes("aip-pane-head"):
            ui.button("New chat", icon="edit_square", on_click=page.new_chat).props(
                "unelevated no-caps dense color=primary data-testid=chat-new"
            ).classes("grow px-3")
            ui.button(icon="upload_file", on_click=self.import_dialog).props(
                "flat round dense data-testid=chat-import"
            ).tooltip("Import a conversation exported as JSON")
            ui.button(icon="close", on_click=on_close).props("flat round dense").classes(
                "aip-side-close"
            )
        with ui.element("div").classes("px-3 pt-2"):
            search = ui.input(placeholder="Search conversations").props(
                "dense outlined clearable debounce=300 data-testid=chat-search"
            )
            search.classes("w-full")
            with search.add_slot("prepend"):
                ui.icon("search", size="1.1rem")
            search.on_value_change(lambda e: self._search(e.value or ""))
        with ui.element("div").classes("aip-pane-body px-2 py-2"):
            self.items = ui.column().classes("w-full gap-0.5").props("data-testid=chat-list")

    @property
    def root(self) -> ui.element:
        """The page's lasting element, where event handlers run."""
        return self.page.root

    async def _search(self, q: str) -> None:
        self.q = q.strip()[:200]
        await self.refresh()

    async def refresh(self) -> None:
        """Redraw the list, most recently active first."""
        try:
            page = await asyncio.to_thread(
                self.service.conversations.search,
                self.ctx.current_principal(),
                q=self.q or None,
                limit=LIST_SIZE,
            )
        except PlaygroundError as exc:
            show_error(exc)
            return
        self.items.clear()
        with self.items:
            if not page.items:
                text = "No conversation matches." if self.q else "No conversations yet."
                ui.label(text).classes("text-sm aip-muted px-2 py-3")
            for conversation in page.items:
                self._item(conversation)

    def _item(self, conversation: ConversationInfo) -> None:
        active = self.page.conversation is not None and self.page.conversation.id == conversation.id
        with (
            ui.element("div")
            .classes("aip-conv w-full" + (" aip-conv-active" if active else ""))
            .props(f'data-testid=chat-conversation data-id="{conversation.id}"')
            .on("click", lambda c=conversation: self.page.open(c.id))
        ):
            with ui.column().classes("gap-0 grow min-w-0"):
                ui.label(conversation.title or "New conversation").classes("aip-conv-title")
                count = conversation.message_count
                meta = (
                    f"{count} message{'s' if count != 1 else ''} · {ago(conversation.updated_at)}"
                )
                ui.label(meta).classes("aip-conv-meta")
            with (
                ui.button(icon="more_horiz")
                .props("flat round dense size=sm data-testid=chat-conversation-menu")
                .on("click.stop", lambda: None),
                ui.menu().props("auto-close"),
            ):
                self._menu_item("Rename", "edit", lambda: self.rename(conversation), "rename")
                self._menu_item(
                    "Export Markdown",
                    "description",
                    lambda: self.export(conversation, "markdown"),
                    "export-md",
                )
                self._menu_item(
                    "Export JSON",
                    "data_object",
                    lambda: self.export(conversation, "json"),
                    "export-json",
                )
                ui.separator()
                self._menu_item("Delete", "delete", lambda: self.delete(conversation), "delete")

    @staticmethod
    def _menu_item(label: str, icon: str, action: Callable[[], Awaitable[None]], key: str) -> None:
        with ui.item(on_click=action).props(f"dense data-testid=conversation-{key}"):
            with ui.item_section().props("avatar").classes("min-w-0 pr-2"):
                ui.icon(icon, size="1.1rem")
            ui.item_section(label)

    # actions -----------------------------------------------------------------------------

    @in_root
    async def rename(self, conversation: ConversationInfo) -> None:
        with ui.dialog() as dialog, ui.card().classes("aip-card w-[26rem] max-w-full gap-3"):
            ui.label("Rename conversation").classes("text-lg font-medium")
            title = ui.input("Title", value=conversation.title).props(
                "outlined dense autofocus maxlength=200 data-testid=rename-title"
            )
            title.classes("w-full")
            title.on("keydown.enter", lambda: dialog.submit(title.value))
            with ui.row().classes("w-full justify-end gap-2"):
                ui.button("Cancel", on_click=dialog.close).props("flat no-caps")
                ui.button("Save", on_click=lambda: dialog.submit(title.value)).props(
                    "unelevated no-caps data-testid=rename-save"
                )
        chosen = await dialog
        if chosen is None:
            return
        try:
            updated = await self.service.update_conversation(
                self.ctx.current_principal(),
                conversation.id,
                ConversationUpdate(title=" ".join(str(chosen).split())[:200]),
            )
        except PlaygroundError as exc:
            show_error(exc)
            return
        self.page.renamed(updated)
        await self.refresh()

    @in_root
    async def export(self, conversation: ConversationInfo, fmt: str) -> None:
        try:
            text, media = await asyncio.to_thread(
                self.service.conversations.export,
                self.ctx.current_principal(),
                conversation.id,
                fmt,
            )
        except PlaygroundError as exc:
            show_error(exc)
            return
        stem = re.sub(r"[^A-Za-z0-9._-]+", "-", conversation.title).strip("-.")[:60]
        suffix = "json" if fmt == "json" else "md"
        ui.download.content(text.encode(), f"{stem or 'conversation'}.{suffix}", media)

    @in_root
    async def delete(self, conversation: ConversationInfo) -> None:
        with ui.dialog() as dialog, ui.card().classes("aip-card w-[26rem] max-w-full gap-3"):
            ui.label("Delete this conversation?").classes("text-lg font-medium")
            ui.label(f"“{conversation.title or 'New conversation'}” and its messages go for good.")
            with ui.row().classes("w-full justify-end gap-2"):
                ui.button("Cancel", on_click=dialog.close).props("flat no-caps")
                ui.button("Delete", on_click=lambda: dialog.submit(True)).props(
                    "unelevated no-caps color=negative data-testid=delete-confirm"
                )
        if not await dialog:
            return
        principal = self.ctx.current_principal()
        try:
            self.service.cancel(principal, conversation.id)  # a running answer stops first
            await asyncio.to_thread(self.service.conversations.delete, principal, conversation.id)
        except PlaygroundError as exc:
            show_error(exc)
            return
        await self.page.deleted(conversation.id)

    @in_root
    async def import_dialog(self) -> None:
        with ui.dialog() as dialog, ui.card().classes("aip-card w-[30rem] max-w-full gap-3"):
            ui.label("Import a conversation").classes("text-lg font-medium")
            ui.label(
                "Choose a conversation exported as JSON from this or another AI Playground. "
                "It continues with the model selected here, unless its own model is available."
            ).classes("text-sm aip-muted")

            async def received(e: UploadEventArguments) -> None:
                raw = await e.file.read()
                try:
                    info = await import_conversation(
                        self.ctx.current_principal(),
                        self.service,
                        raw,
                        models=set(self.page.models),
                        fallback=self.page.model or "",
                    )
                except PlaygroundError as exc:
                    show_error(exc)
                    upload.reset()
                    return
                dialog.close()
                ui.notify(f"Imported “{info.title}”", type="positive", position="top")
                await self.page.open(info.id)

            upload = ui.upload(
                auto_upload=True,
                max_file_size=MAX_IMPORT_BYTES,
                label="Drop a .json file here or click + to choose",
                on_upload=received,
                on_rejected=lambda: ui.notify(
                    f"Choose a .json file of at most {MAX_IMPORT_BYTES // 1_000_000} MB.",
                    type="warning",
                ),
            ).props('flat bordered accept=".json,application/json" data-testid=chat-import-file')
            upload.classes("w-full aip-uploader")
            with ui.row().classes("w-full justify-end"):
                ui.button("Close", on_click=dialog.close).props("flat no-caps")
        dialog.open()
