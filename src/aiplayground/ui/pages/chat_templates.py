"""The prompt part of the Chat settings: a stored template (and version) or a plain system
prompt; template messages can be edited and saved as the template's next version or as
a new template. The chat service validates templates on save."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from nicegui import ui
from pydantic import ValidationError

from aiplayground.auth.principal import Role
from aiplayground.chat.schemas import TemplateCreate, TemplateInfo
from aiplayground.errors import PlaygroundError
from aiplayground.ui.pages.chat_common import in_root
from aiplayground.ui.shell import PageContext, show_error

NO_TEMPLATE = ""
LATEST = 0
SLOTS_HINT = (
    "{question}: the user's message · {history}: past messages · {context}: retrieved passages"
)


class TemplateSection:
    """Pick a template or write a system prompt; edit and save template versions."""

    def __init__(self, ctx: PageContext, on_change: Callable[[], None]) -> None:
        self.ctx = ctx
        self.store = ctx.platform.chat.templates
        self.on_change = on_change
        self.templates: dict[str, TemplateInfo] = {}
        self.template_id: str | None = None
        self.version: int | None = None
        self.system_prompt = ""
        self.draft: list[dict[str, str]] = []
        self.loaded: list[dict[str, str]] = []
        self.quiet = False
        with ui.column().classes("w-full gap-2") as self.root:
            self.picker = ui.select(
                {NO_TEMPLATE: "No template"}, value=NO_TEMPLATE, label="Prompt template"
            ).props("outlined dense options-dense data-testid=chat-template")
            self.picker.classes("w-full")
            self.picker.on_value_change(lambda e: self._picked(e.value))
            self.versions = ui.select({LATEST: "Latest"}, value=LATEST, label="Version")
            self.versions.props("outlined dense options-dense data-testid=chat-template-version")
            self.versions.classes("w-full")
            self.versions.on_value_change(lambda e: self._version_picked(e.value))
            self.editor = ui.column().classes("w-full gap-2")

    async def refresh(self) -> None:
        """Load the templates the caller can use (theirs and public ones)."""
        page = await asyncio.to_thread(self.store.search, self.ctx.principal, limit=200)
        self.templates = {t.id: t for t in page.items}
        options = {NO_TEMPLATE: "None: system prompt only"}
        options |= {t.id: f"{t.name} · v{t.latest_version}" for t in page.items}
        self._quietly(lambda: self.picker.set_options(options, value=self.template_id or ""))

    async def load(
        self, template_id: str | None, version: int | None, system_prompt: str | None
    ) -> None:
        """Show a conversation's prompt setup."""
        if template_id and template_id not in self.templates:
            template_id, version = None, None  # deleted, or no longer visible
        self.template_id, self.version = template_id, version
        self.system_prompt = system_prompt or ""
        self._quietly(lambda: self.picker.set_value(template_id or NO_TEMPLATE))
        await self._load_messages()

    # events ------------------------------------------------------------------------------

    def _quietly(self, change: Callable[[], object]) -> None:
        self.quiet = True
        try:
            change()
        finally:
            self.quiet = False

    @in_root
    async def _picked(self, value: str) -> None:
        if self.quiet:
            return
        self.template_id, self.version = (value or None), None
        await self._load_messages()
        self.on_change()

    @in_root
    async def _version_picked(self, value: int) -> None:
        if self.quiet:
            return
        self.version = value or None
        await self._load_messages()
        self.on_change()

    async def _load_messages(self) -> None:
        info = self.templates.get(self.template_id or "")
        self.versions.set_visibility(info is not None)
        if info is None:
            self.loaded = []
        else:
            options = {LATEST: f"Latest (v{info.latest_version})"} | {
                n: f"v{n}" for n in reversed(info.versions)
            }
            self._quietly(lambda: self.versions.set_options(options, value=self.version or LATEST))
            try:
                self.loaded = await asyncio.to_thread(
                    self.store.messages, self.ctx.current_principal(), info.id, self.version
                )
            except PlaygroundError as exc:
                show_error(exc)
                self.loaded = []
        self.draft = [dict(m) for m in self.loaded]
        self._draw_editor(info)

    def _draw_editor(self, info: TemplateInfo | None) -> None:
        self.editor.clear()
        with self.editor:
            if info is None:
                prompt = ui.textarea(
                    "System prompt",
                    value=self.system_prompt,
                    placeholder="You are a helpful assistant for physicists.",
                ).props("outlined dense autogrow data-testid=chat-system-prompt")
                prompt.classes("w-full")
                prompt.on_value_change(lambda e: self._system_changed(e.value or ""))
                ui.button("Save as template…", icon="bookmark_add", on_click=self._save_new).props(
                    "flat dense no-caps size=sm data-testid=template-save-new"
                )
                return
            for message in self.draft:
                ui.label(message["role"]).classes("aip-role")
                box = ui.textarea(value=message["content"]).props(
                    "outlined dense autogrow data-testid=template-message"
                )
                box.classes("w-full")
                box.on_value_change(lambda e, m=message: m.update(content=e.value or ""))
            ui.label(SLOTS_HINT).classes("text-xs aip-muted")
            with ui.row().classes("gap-1"):
                if self._can_change(info):
                    ui.button(
                        f"Save as v{info.latest_version + 1}",
                        icon="save",
                        on_click=self._save_version,
                    ).props("flat dense no-caps size=sm data-testid=template-save-version")
                ui.button("Save as new…", icon="bookmark_add", on_click=self._save_new).props(
                    "flat dense no-caps size=sm data-testid=template-save-new"
                )

    def _system_changed(self, value: str) -> None:
        self.system_prompt = value
        self.on_change()

    def _can_change(self, info: TemplateInfo) -> bool:
        principal = self.ctx.principal
        return principal.role is Role.ADMIN or (
            principal.role is not Role.VIEWER and info.owner == principal.name
        )

    def _messages_to_save(self) -> list[dict[str, str]]:
        if self.template_id:
            return self.draft
        messages = [{"role": "user", "content": "{question}"}]
        if self.system_prompt.strip():
            messages.insert(0, {"role": "system", "content": self.system_prompt})
        return messages

    # saving ------------------------------------------------------------------------------

    @in_root
    async def _save_version(self) -> None:
        assert self.template_id is not None
        try:
            version = await asyncio.to_thread(
                self.store.add_version,
                self.ctx.current_principal(),
                self.template_id,
                self._messages_to_save(),
            )
        except PlaygroundError as exc:
            show_error(exc)
            return
        ui.notify(f"Saved as version {version.number}", type="positive", position="top")
        self.version = None  # follow the latest, which is the one just saved
        await self.refresh()
        await self._load_messages()
        self.on_change()

    @in_root
    async def _save_new(self) -> None:
        with ui.dialog() as dialog, ui.card().classes("aip-card w-[26rem] max-w-full gap-3"):
            ui.label("Save as a new prompt template").classes("text-lg font-medium")
            name = ui.input("Name", placeholder="physics-helper").props(
                "outlined dense autofocus data-testid=template-name"
            )
            name.classes("w-full")
            ui.label("Lower-case letters, digits, dots, dashes and underscores.").classes(
                "text-xs aip-muted"
            )
            with ui.row().classes("w-full justify-end gap-2"):
                ui.button("Cancel", on_click=dialog.close).props("flat no-caps")
                ui.button("Save", on_click=lambda: dialog.submit(name.value)).props(
                    "unelevated no-caps data-testid=template-name-save"
                )
        chosen = await dialog
        if not chosen:
            return
        try:
            spec = TemplateCreate(name=str(chosen).strip(), messages=self._messages_to_save())
            info = await asyncio.to_thread(self.store.create, self.ctx.current_principal(), spec)
        except ValidationError as exc:
            ui.notify(f"Name: {exc.errors()[0]['msg']}", type="warning", position="top")
            return
        except PlaygroundError as exc:
            show_error(exc)
            return
        ui.notify(f"Template {info.name!r} saved", type="positive", position="top")
        await self.refresh()
        self.template_id, self.version = info.id, None
        self._quietly(lambda: self.picker.set_value(info.id))
        await self._load_messages()
        self.on_change()
