"""Asking and answering on the Chat page: the question is stored with the conversation's
setup, the answer streams from `Reply.events()` into the thread, and Stop cancels it
through `ChatService.cancel` (the conversation's cancel token)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from nicegui import ui

from aiplayground.auth.principal import Principal
from aiplayground.chat.schemas import ConversationCreate, ConversationInfo, ConversationUpdate
from aiplayground.chat.service import ChatService, Reply
from aiplayground.errors import NotFound, PlaygroundError
from aiplayground.ui.pages.chat_common import in_root
from aiplayground.ui.pages.chat_controls import Composer, ModelPicker
from aiplayground.ui.pages.chat_conversations import ConversationList
from aiplayground.ui.pages.chat_settings import SettingsPanel
from aiplayground.ui.pages.chat_thread import AnswerView, Thread
from aiplayground.ui.shell import PageContext, show_error


class Answering:
    """The asking half of `ChatPage` (which draws the parts named here)."""

    ctx: PageContext
    service: ChatService
    grid: ui.element
    convs: ConversationList
    thread: Thread
    composer: Composer
    picker: ModelPicker
    settings: SettingsPanel
    model: str | None
    conversation: ConversationInfo | None
    reply: Reply | None
    busy: bool
    stop_requested: bool

    @property
    def root(self) -> ui.element:
        """The page's lasting element, where event handlers run."""
        return self.grid

    async def _stored_setup(self, principal: Principal) -> str:
        """Create the conversation, or bring its model and settings up to the pane's."""
        assert self.model is not None
        wanted = {**self.settings.setup(), "model": self.model}
        if self.conversation is None:
            self.conversation = await self.service.create_conversation(
                principal, ConversationCreate(**wanted)
            )
            ui.navigate.history.replace(f"/chat?c={self.conversation.id}")
            return self.conversation.id
        current = self.conversation
        changes = {k: v for k, v in wanted.items() if getattr(current, k) != v}
        if changes:
            self.conversation = await self.service.update_conversation(
                principal, current.id, ConversationUpdate(**changes)
            )
        return current.id

    # answers -----------------------------------------------------------------------------

    @in_root
    async def send(self, text: str | None = None) -> None:
        """Ask the question in the composer (or `text`), and stream the answer."""
        question = (self.composer.text if text is None else text).strip()
        if not question or self.busy or self.model is None:
            return
        self._set_busy(True)
        self.composer.text = ""
        created = self.conversation is None
        try:
            principal = self.ctx.current_principal()
            conversation_id = await self._stored_setup(principal)
        except PlaygroundError as exc:
            show_error(exc)
            self.composer.text = question
            self._set_busy(False)
            return
        self.thread.add_user(question)
        view = self.thread.add_answer()
        await self._answer(
            view,
            principal,
            conversation_id,
            lambda: self.service.send_message(principal, conversation_id, question, {}),
            restore=question,
            created=created,
        )

    @in_root
    async def regenerate(self) -> None:
        """Answer the last question again (with the settings now in the pane)."""
        if self.busy or self.conversation is None:
            return
        self._set_busy(True)
        try:
            principal = self.ctx.current_principal()
            conversation_id = await self._stored_setup(principal)
        except PlaygroundError as exc:
            show_error(exc)
            self._set_busy(False)
            return
        self.thread.remove_last_answer()
        view = self.thread.add_answer()
        await self._answer(
            view,
            principal,
            conversation_id,
            lambda: self.service.regenerate(principal, conversation_id, {}),
        )

    async def _answer(
        self,
        view: AnswerView,
        principal: Principal,
        conversation_id: str,
        start: Callable[[], Awaitable[Reply]],
        restore: str = "",
        created: bool = False,
    ) -> None:
        view.start("Loading the model…" if self.picker.state in ("unloaded", "loading") else "")
        self.thread.scroll(force=True)
        try:
            try:
                reply = await start()
            except PlaygroundError as exc:
                show_error(exc)
                if restore and not self.composer.text:
                    self.composer.text = restore
                if self.conversation is not None and self.conversation.id == conversation_id:
                    await self._unwind(conversation_id, created)
                return
            self.reply = reply
            await self.convs.refresh()  # the question is stored: the list shows its title
            if self.stop_requested:  # Stop was pressed while the model was loading
                await asyncio.to_thread(self.service.cancel, principal, conversation_id)
            async for event, data in reply.events():
                if event == "delta":
                    view.append(data["text"])
            if reply.answer is not None:
                view.finish(reply.answer)
            if reply.error is not None:
                view.fail(reply.error.message)
        finally:
            self.reply = None
            self._set_busy(False)
        await self.convs.refresh()

    async def _unwind(self, conversation_id: str, created: bool) -> None:
        """After a failed start, show what is stored: nothing more, and no empty new
        conversation (its first question is back in the composer)."""
        principal = self.ctx.current_principal()
        store = self.service.conversations
        try:
            detail = await asyncio.to_thread(store.get, principal, conversation_id)
        except NotFound:
            detail = None  # deleted meanwhile
        if detail is None or (created and not detail.messages):
            if detail is not None:
                await asyncio.to_thread(store.delete, principal, conversation_id)
            self.conversation = None
            ui.navigate.history.replace("/chat")
            self.thread.show([], self.model)
        else:
            self.conversation = detail
            self.thread.show(detail.messages, detail.model)
        await self.convs.refresh()

    @in_root
    async def stop(self) -> None:
        """Stop the answer being written; the model is free again within a second."""
        self.stop_requested = True
        self.composer.stopping()
        if self.conversation is not None:
            # The service's cancel token for this conversation's answer; if the answer
            # has not started yet (the model is loading), `_answer` cancels it once it has.
            with contextlib.suppress(NotFound):  # deleted meanwhile: nothing left to stop
                await asyncio.to_thread(
                    self.service.cancel, self.ctx.principal, self.conversation.id
                )

    async def _stop_running(self) -> None:
        if self.busy:
            await self.stop()

    def _set_busy(self, busy: bool) -> None:
        self.busy = busy
        if not busy:
            self.stop_requested = False
        self.composer.busy(busy)

    async def _abandon(self) -> None:
        # The tab is gone: stop generating for nobody. The loop in `_answer` still reads
        # the stream to its end and stores what was said (`Reply.abandon` would store it
        # a second time while the stream is being read).
        if self.reply is not None and self.conversation is not None:
            await asyncio.to_thread(self.service.cancel, self.ctx.principal, self.conversation.id)
