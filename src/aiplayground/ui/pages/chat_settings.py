"""The Chat settings pane: generation parameters, prompt template, memory and, where the
platform offers them, knowledge bases. What it holds becomes the conversation's stored
setup (`ConversationCreate` / `ConversationUpdate`) before the next question."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nicegui import ui

from aiplayground.chat.schemas import ConversationInfo
from aiplayground.ui.pages.chat_knowledge import KnowledgePanel
from aiplayground.ui.pages.chat_params import ParamControls
from aiplayground.ui.pages.chat_templates import TemplateSection
from aiplayground.ui.shell import PageContext

MAX_MEMORY = 200


class SettingsPanel:
    """The right-hand pane; `setup()` says what the conversation should be set to."""

    def __init__(
        self, ctx: PageContext, on_change: Callable[[], None], on_close: Callable[[], None]
    ) -> None:
        self.ctx = ctx
        self.on_change = on_change
        self.default_memory = ctx.platform.settings.chat.memory_messages
        self.memory: int | None = None
        with ui.element("div").classes("aip-pane-head"):
            ui.icon("tune", size="1.2rem").classes("aip-muted")
            ui.label("Settings").classes("font-medium")
            ui.space()
            ui.button(icon="close", on_click=on_close).props("flat round dense").classes(
                "aip-side-close"
            )
        with ui.element("div").classes("aip-pane-body"):
            with self._section("Generation", "speed", opened=True):
                self.params = ParamControls(on_change)
            with self._section("Prompt", "description"):
                self.template = TemplateSection(ctx, on_change)
            with self._section("Memory", "history"):
                self.memory_input = ui.number(
                    "Memory messages",
                    min=0,
                    max=MAX_MEMORY,
                    step=1,
                    placeholder=f"default ({self.default_memory})",
                ).props("outlined dense stack-label data-testid=chat-memory")
                self.memory_input.classes("w-full")
                self.memory_input.on_value_change(lambda e: self._memory_changed(e.value))
                ui.label(
                    "Past messages sent with each question. Older ones are dropped first when "
                    "the prompt would not fit the model's context window."
                ).classes("text-xs aip-muted")
            # Knowledge bases: drawn only when the platform has a knowledge service.
            # Attaching bases sets the conversation's `context`; the chat service hands it
            # to its retriever.
            self.knowledge: KnowledgePanel | None = None
            if getattr(ctx.platform, "knowledge", None) is not None:
                with self._section("Knowledge bases", "library_books"):
                    self.knowledge = KnowledgePanel(ctx, on_change)

    @staticmethod
    def _section(title: str, icon: str, *, opened: bool = False) -> ui.expansion:
        section = ui.expansion(title, icon=icon, value=opened).classes("w-full")
        section.props(f"dense data-testid=settings-{title.lower().replace(' ', '-')}")
        return section

    async def refresh(self) -> None:
        """Load what the pane offers (templates, knowledge bases)."""
        await self.template.refresh()
        if self.knowledge is not None:
            await self.knowledge.refresh()

    def set_provider(self, options: dict[str, Any], settings: dict[str, Any]) -> list[str]:
        """Show the parameters the model's provider supports; returns the ones dropped."""
        supported = set(options.get("supported_params", []))
        defaults = {"max_new_tokens": self.ctx.platform.settings.chat.default_max_new_tokens}
        defaults |= options.get("defaults", {})
        return self.params.draw(supported, defaults, settings)

    async def load(self, conversation: ConversationInfo | None) -> None:
        """Show a conversation's setup (or a fresh one's)."""
        self.memory = conversation.memory_messages if conversation else None
        self.memory_input.set_value(self.memory)
        if conversation is None:
            await self.template.load(None, None, None)
        else:
            await self.template.load(
                conversation.template_id, conversation.template_version, conversation.system_prompt
            )
        if self.knowledge is not None:
            self.knowledge.load(conversation.context if conversation else {})

    def _memory_changed(self, value: Any) -> None:
        self.memory = None if value is None else min(max(int(value), 0), MAX_MEMORY)
        self.on_change()

    def setup(self) -> dict[str, Any]:
        """The conversation fields this pane decides."""
        return {
            "settings": dict(self.params.values),
            "system_prompt": self.template.system_prompt.strip() or None,
            "template_id": self.template.template_id,
            "template_version": self.template.version,
            "memory_messages": self.memory,
            "context": self.knowledge.context() if self.knowledge is not None else {},
        }
