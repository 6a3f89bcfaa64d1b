"""`ChatService`: the one entry point of chat for the REST routes, the UI and the CLI."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from typing import Any

from aiplayground.auth.principal import Principal
from aiplayground.catalog.models import ModelCatalog
from aiplayground.catalog.schemas import ModelInfo, Objective
from aiplayground.chat.context import Retriever, Source
from aiplayground.chat.conversations import ConversationState, ConversationStore
from aiplayground.chat.generation import Generation
from aiplayground.chat.limits import ChatLimits
from aiplayground.chat.memory import fit_prompt, last_messages, reserve_for_answer
from aiplayground.chat.params import GenerationParams, parse_params, require_supported
from aiplayground.chat.pool import ProviderPool, ServedModel
from aiplayground.chat.provider import CancelToken, ChatMessage, Prompt
from aiplayground.chat.query_rewrite import standalone_question
from aiplayground.chat.schemas import (
    ConversationCreate,
    ConversationInfo,
    ConversationUpdate,
    MessageInfo,
)
from aiplayground.chat.template_store import TemplateStore
from aiplayground.chat.templates import format_context, render
from aiplayground.errors import Conflict, InvalidInput, PlaygroundError
from aiplayground.settings import Settings
from aiplayground.storage import ArtifactStore
from aiplayground.store.db import Database


class ChatService:
    """Conversations, prompt templates and generations over the catalog's text models."""

    def __init__(
        self,
        db: Database,
        models: ModelCatalog,
        storage: ArtifactStore,
        endpoints: Any,
        settings: Settings,
    ) -> None:
        self.settings = settings.chat
        self.models = models
        self.pool = ProviderPool(db, models, storage, endpoints, settings)
        self.conversations = ConversationStore(db)
        self.templates = TemplateStore(db)
        self.limits = ChatLimits(settings.chat)
        self.retriever: Retriever | None = None
        self._active: dict[str, CancelToken] = {}

    def close(self) -> None:
        """Stop the model workers."""
        self.pool.close()

    # models ------------------------------------------------------------------------------

    def text_models(self, caller: Principal) -> list[ModelInfo]:
        """Every text-generation model the caller can see."""
        found: list[ModelInfo] = []
        while True:
            page = self.models.search(
                caller, objective=Objective.TEXT_GENERATION, limit=200, offset=len(found)
            )
            found += page.items
            if not page.items or len(found) >= page.total:
                return found

    async def model_options(self, caller: Principal, name: str) -> dict[str, Any]:
        """What the Chat page shows for a model: its parameters, defaults and state."""
        served = await self.pool.get(caller, name)
        state = served.provider.state()
        return {
            "model": name,
            "provider": served.provider.kind,
            "supported_params": sorted(served.provider.supported_params),
            "defaults": served.defaults.model_dump(exclude_none=True),
            "state": state.state,
            "detail": state.detail,
        }

    # generations -------------------------------------------------------------------------

    async def generate(
        self,
        caller: Principal,
        model: str,
        prompt: Prompt,
        params: GenerationParams,
        *,
        version: str | None = None,
    ) -> Generation:
        """Admit and start a generation; errors (400, 404, 429, ...) come before any output."""
        started = time.perf_counter()
        self._check_size(prompt)
        served = await self.pool.get(caller, model, version)
        final = self._final_params(served, ("the request", params))
        return await self._start(caller, served, prompt, final, CancelToken(), started)

    def _check_size(self, prompt: Prompt) -> None:
        size = len(prompt) if isinstance(prompt, str) else sum(len(m.content) for m in prompt)
        if size > self.settings.max_prompt_chars:
            raise InvalidInput(
                f"the prompt has {size} characters; at most {self.settings.max_prompt_chars} "
                "are accepted",
                details={"param": "prompt" if isinstance(prompt, str) else "messages"},
            )

    def _final_params(
        self, served: ServedModel, *layers: tuple[str, GenerationParams]
    ) -> GenerationParams:
        provider = served.provider
        origin = f"the serving defaults of model {served.info.name!r}"
        require_supported(served.defaults, provider.supported_params, provider.kind, origin)
        for source, layer in layers:
            require_supported(layer, provider.supported_params, provider.kind, source)
        base = GenerationParams(max_new_tokens=self.settings.default_max_new_tokens)
        return base.merged(served.defaults, *(layer for _, layer in layers))

    async def _start(
        self,
        caller: Principal,
        served: ServedModel,
        prompt: Prompt,
        params: GenerationParams,
        cancel: CancelToken,
        started: float,
    ) -> Generation:
        self.limits.admit(caller.user_id)
        generation = Generation(
            served,
            prompt,
            params,
            cancel=cancel,
            on_done=lambda: self.limits.release(caller.user_id),
            started=started,
        )
        await generation.start()
        return generation

    # conversations -----------------------------------------------------------------------

    async def create_conversation(
        self, caller: Principal, spec: ConversationCreate
    ) -> ConversationInfo:
        """Start a conversation; model, settings and template are checked now."""
        caller.require_write()
        await self._check_setup(caller, spec.model, spec.model_version, spec.settings)
        if spec.template_id:
            await asyncio.to_thread(
                self.templates.messages, caller, spec.template_id, spec.template_version
            )
        return await asyncio.to_thread(self.conversations.create, caller, spec)

    async def update_conversation(
        self, caller: Principal, conversation_id: str, patch: ConversationUpdate
    ) -> ConversationInfo:
        """Rename or change settings; a new model must support the settings kept."""
        state = await asyncio.to_thread(self.conversations.state, caller, conversation_id)
        changes = patch.model_dump(exclude_unset=True)
        if {"model", "model_version", "settings"} & set(changes):
            await self._check_setup(
                caller,
                changes.get("model") or state.model,
                changes.get("model_version", state.model_version),
                changes.get("settings", state.settings) or {},
            )
        if changes.get("template_id"):
            await asyncio.to_thread(
                self.templates.messages,
                caller,
                changes["template_id"],
                changes.get("template_version"),
            )
        return await asyncio.to_thread(self.conversations.update, caller, conversation_id, patch)

    async def _check_setup(
        self, caller: Principal, model: str, version: str | None, settings: dict[str, Any]
    ) -> None:
        served = await self.pool.get(caller, model, version)
        self._final_params(
            served, ("the conversation's settings", parse_params(settings, "settings"))
        )

    async def send_message(
        self, caller: Principal, conversation_id: str, content: str, settings: dict[str, Any]
    ) -> Reply:
        """Store the user's message and start the answer (memory trimmed to fit)."""
        caller.require_write()
        state = await asyncio.to_thread(self.conversations.state, caller, conversation_id)
        return await self._answer(caller, state, content, settings)

    async def regenerate(
        self, caller: Principal, conversation_id: str, settings: dict[str, Any]
    ) -> Reply:
        """Answer the last user message again, replacing the answer it had.

        The old exchange is removed only once the new answer has started: a refused
        regeneration (model unavailable, limits, settings) leaves the conversation as it was.
        """
        caller.require_write()
        self._not_busy(conversation_id)
        state = await asyncio.to_thread(self.conversations.state, caller, conversation_id)
        asked = [i for i, m in enumerate(state.history) if m.role == "user"]
        if not asked:
            raise InvalidInput("there is no user message to answer again")
        question = state.history[asked[-1]].content
        earlier = dataclasses.replace(state, history=state.history[: asked[-1]])
        return await self._answer(caller, earlier, question, settings, replace_last=True)

    def cancel(self, caller: Principal, conversation_id: str) -> bool:
        """Stop the answer being generated in a conversation; False if none was running."""
        self.conversations.state(caller, conversation_id)  # 404 for another user's id
        token = self._active.get(conversation_id)
        if token is None:
            return False
        token.cancel()
        return True

    def _not_busy(self, conversation_id: str) -> None:
        if conversation_id in self._active:
            raise Conflict("an answer is being generated in this conversation; stop it first")

    async def _answer(
        self,
        caller: Principal,
        state: ConversationState,
        question: str,
        settings: dict[str, Any],
        *,
        replace_last: bool = False,
    ) -> Reply:
        started = time.perf_counter()
        self._not_busy(state.id)
        served = await self.pool.get(caller, state.model, state.model_version)
        params = self._final_params(
            served,
            ("the conversation's settings", parse_params(state.settings, "conversation settings")),
            ("the message's settings", parse_params(settings, "message settings")),
        )
        template = None
        if state.template_id:
            template = await asyncio.to_thread(
                self.templates.messages, caller, state.template_id, state.template_version
            )
        sources = await self._retrieve(caller, state, question, served)
        context = format_context([s.text for s in sources])
        self._check_size(question + context)
        provider = served.provider
        window = await provider.context_window()
        budget = window - reserve_for_answer(window, params.max_new_tokens or 1)
        memory = state.memory_messages
        history = last_messages(
            state.history, self.settings.memory_messages if memory is None else memory
        )

        def build(past: list[ChatMessage]) -> list[ChatMessage]:
            return render(
                template, question, past, system_prompt=state.system_prompt, context=context
            )

        fitted = await fit_prompt(provider, build, history, budget)
        question_tokens = await provider.count_tokens(question)
        cancel = CancelToken()
        self._not_busy(state.id)
        self._active[state.id] = cancel
        try:
            generation = await self._start(caller, served, fitted.messages, params, cancel, started)
        except BaseException:
            self._active.pop(state.id, None)
            raise
        try:
            if replace_last:
                await asyncio.to_thread(self.conversations.drop_last_answer, caller, state.id)
            user = await asyncio.to_thread(
                self.conversations.add_message,
                caller,
                state.id,
                "user",
                question,
                tokens=question_tokens,
            )
        except BaseException:
            generation.abandon()
            self._active.pop(state.id, None)
            raise
        return Reply(self, caller, state.id, user, generation, fitted.dropped, sources)

    async def _retrieve(
        self, caller: Principal, state: ConversationState, question: str, served: ServedModel
    ) -> list[Source]:
        if not state.context.get("knowledge_bases"):
            return []
        if self.retriever is None:
            raise InvalidInput(
                "this conversation asks for knowledge bases, which this server does not offer",
                details={"param": "context"},
            )

        async def rewrite(follow_up: str, history: list[ChatMessage]) -> str:
            # The conversation's own model; it falls back to the question on any failure.
            return await standalone_question(served.provider, follow_up, history)

        return await self.retriever.retrieve(
            caller, state.context, question, state.history, rewriter=rewrite
        )


class Reply:
    """An answer being generated in a conversation; `events()` streams and then stores it."""

    def __init__(
        self,
        service: ChatService,
        caller: Principal,
        conversation_id: str,
        user: MessageInfo,
        generation: Generation,
        dropped: int,
        sources: list[Source],
    ) -> None:
        self.service = service
        self.caller = caller
        self.conversation_id = conversation_id
        self.user = user
        self.generation = generation
        self.dropped = dropped
        self.sources = [s.public() for s in sources]
        self.answer: MessageInfo | None = None
        self.error: PlaygroundError | None = None
        # Claimed before saving: the save runs in a thread, and abandon() may come meanwhile.
        self._save_claimed = False

    def _claim_save(self) -> bool:
        """True for the first caller only: exactly one answer row per reply."""
        first = not self._save_claimed
        self._save_claimed = True
        return first

    async def events(self) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """(event, data) pairs: start, sources, delta..., then done (or error)."""
        generation = self.generation
        saved = False
        try:
            yield (
                "start",
                {
                    "message": self.user.model_dump(mode="json"),
                    "model": generation.model,
                    "prompt_tokens": generation.usage.prompt_tokens,
                    "dropped_messages": self.dropped,
                },
            )
            if self.sources:
                yield "sources", {"sources": self.sources}
            async for chunk in generation.chunks():
                if chunk.text:
                    yield "delta", {"text": chunk.text}
            if self._claim_save():
                self.answer = await asyncio.to_thread(self._save, None)
            saved = True
            if self.answer is not None:
                yield "done", {"message": self.answer.model_dump(mode="json")}
        except PlaygroundError as exc:
            self.error = exc
            if self._claim_save():
                self.answer = await asyncio.to_thread(self._save, "error")
            saved = True
            yield "error", {"code": exc.code, "message": exc.message}
        finally:
            if not saved:
                # The client went away: keep what was said; no awaiting in a cancelled task.
                self._saved_once("cancelled")
            self.service._active.pop(self.conversation_id, None)

    def abandon(self) -> None:
        """The response ended, read or not: stop the model, keep what it said, unlock."""
        self.generation.abandon()
        if self.answer is None:
            self._saved_once("cancelled")
        self.service._active.pop(self.conversation_id, None)

    def _saved_once(self, finish: str) -> None:
        if self._claim_save():
            self.answer = self._save(finish)

    async def collect(self) -> MessageInfo:
        """Run to the end and return the stored answer (or raise what stopped it)."""
        async for _ in self.events():
            pass
        if self.error is not None:
            raise self.error
        assert self.answer is not None
        return self.answer

    def _save(self, finish: str | None) -> MessageInfo:
        generation = self.generation
        return self.service.conversations.add_message(
            self.caller,
            self.conversation_id,
            "assistant",
            generation.text,
            tokens=generation.usage.completion_tokens,
            model=generation.model,
            params=generation.params.model_dump(exclude_none=True),
            finish_reason=finish or generation.usage.finish_reason,
            timings=generation.timings(),
            sources=self.sources,
        )
