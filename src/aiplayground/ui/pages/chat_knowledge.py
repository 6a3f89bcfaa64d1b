"""The Chat settings' knowledge-base panel: attach bases to the conversation, make a new
one, and fill it with documents without leaving the chat.

Below the documents, the managed base's saved evaluation questions and the "Compare
retrieval settings" dialog (`chat_compare`).

Attaching sets the conversation's `context` (`{"knowledge_bases": [...], "top_k": N}`).
Files picked in the uploader are streamed into a private folder under
`platform.staging`, handed to `KnowledgeBaseService.add_documents` off the event loop and
deleted; ingestion runs in the background and the document list polls each file's state
(queued, processing, ready or failed with the reason) until none is left in progress.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nicegui import background_tasks, ui
from nicegui.elements.upload_files import FileUpload
from nicegui.events import UploadEventArguments
from pydantic import ValidationError

from aiplayground.auth.principal import Role
from aiplayground.catalog.files import IncomingFile
from aiplayground.errors import PlaygroundError
from aiplayground.rag.loaders import FORMATS
from aiplayground.rag.schemas import DocumentInfo, KnowledgeBaseCreate
from aiplayground.ui.pages.catalog_common import human_size
from aiplayground.ui.pages.catalog_forms import warn
from aiplayground.ui.pages.chat_compare import SavedQuestions
from aiplayground.ui.shell import PageContext, show_error

if TYPE_CHECKING:
    from aiplayground.rag.service import KnowledgeBaseService

DEFAULT_TOP_K = 4
MAX_TOP_K = 20
POLL_EVERY_S = 1.0
IN_PROGRESS = ("queued", "processing")
STATUS_LOOK = {  # status: (icon, colour class)
    "queued": ("schedule", "aip-muted"),
    "processing": ("autorenew", "text-primary aip-kb-spin"),
    "ready": ("check_circle", "text-positive"),
    "failed": ("error", "text-negative"),
}
ACCEPT = ",".join(sorted(FORMATS))

STYLE = """
<style>
  .aip-kb-docs { display: flex; flex-direction: column; gap: .25rem; width: 100%; }
  .aip-kb-doc { display: flex; align-items: flex-start; gap: .5rem; width: 100%;
    padding: .35rem .5rem; border-radius: .5rem;
    border: 1px solid rgba(127, 127, 127, .22); }
  .aip-kb-doc-main { display: flex; flex-direction: column; min-width: 0; flex: 1 1 auto; }
  .aip-kb-doc-name { font-size: .82rem; overflow: hidden; text-overflow: ellipsis;
    white-space: nowrap; }
  .aip-kb-doc-state { font-size: .72rem; opacity: .75; }
  .aip-kb-doc-error { font-size: .72rem; color: var(--q-negative); word-break: break-word; }
  .aip-kb-spin { animation: aip-kb-rotate 1.2s linear infinite; }
  @keyframes aip-kb-rotate { to { transform: rotate(360deg); } }
  .aip-kb-uploader { min-height: 0; border-style: dashed; }
  .aip-kb-uploader .q-uploader__list { display: none; }
  .aip-kb-uploader .q-uploader__header { background: transparent; color: var(--q-primary); }
  .aip-kb-uploader .q-uploader__subtitle { display: none; }
  .aip-kb-uploader .q-uploader__header-content { padding: .25rem .5rem; }
</style>
"""


class KnowledgePanel:
    """Pick the bases the conversation retrieves from, and manage their documents."""

    def __init__(self, ctx: PageContext, on_change: Callable[[], None]) -> None:
        ui.add_head_html(STYLE)
        self.ctx = ctx
        self.on_change = on_change
        self.top_k = DEFAULT_TOP_K
        self.documents: list[DocumentInfo] = []
        self.folder: Path | None = None
        self._numbers = itertools.count()
        self._uploads: set[asyncio.Task[None]] = set()
        self._timer: ui.timer | None = None
        can_write = ctx.principal.role is not Role.VIEWER
        with ui.column().classes("w-full gap-3") as self.root:
            self.bases = ui.select(
                {}, multiple=True, label="Attached knowledge bases", clearable=True
            ).props("outlined dense use-chips options-dense data-testid=chat-knowledge")
            self.bases.classes("w-full")
            self.bases.on_value_change(self._attached)
            self.top_k_input = ui.number(
                "Passages (top-k)", value=DEFAULT_TOP_K, min=1, max=MAX_TOP_K, step=1
            ).props("outlined dense data-testid=chat-knowledge-top-k")
            self.top_k_input.classes("w-full")
            self.top_k_input.on_value_change(lambda e: self._top_k(e.value))
            ui.label(
                "Answers quote the best-matching passages of the attached bases and cite them."
            ).classes("text-xs aip-muted -mt-2")

            ui.separator()
            with ui.row().classes("w-full items-center no-wrap gap-2"):
                ui.label("Documents").classes("text-sm font-medium")
                ui.space()
                if can_write:
                    ui.button("New base", icon="add", on_click=self._toggle_new).props(
                        "flat dense no-caps size=sm data-testid=kb-new"
                    )
            with ui.column().classes("w-full gap-2") as self.new_form:
                self.new_name = ui.input(
                    "Name", placeholder="e.g. detector-notes", validation=_name_problem
                ).props("outlined dense data-testid=kb-new-name")
                self.new_name.classes("w-full")
                self.new_name.on("keydown.enter", self._create)
                with ui.row().classes("w-full justify-end gap-2"):
                    ui.button("Cancel", on_click=self._toggle_new).props("flat dense no-caps")
                    self.create_button = ui.button(
                        "Create", icon="check", on_click=self._create
                    ).props("unelevated dense no-caps data-testid=kb-create")
            self.new_form.set_visibility(False)
            self.manage = ui.select({}, label="Base").props(
                "outlined dense options-dense data-testid=kb-manage"
            )
            self.manage.classes("w-full")
            self.manage.on_value_change(self._manage_changed)
            self.docs = ui.element("div").classes("aip-kb-docs").props("data-testid=kb-documents")
            self.upload = ui.upload(
                multiple=True,
                auto_upload=True,
                max_file_size=self._limit,
                label="Add documents",
                on_upload=self._received,
                on_rejected=lambda: warn(f"Not added: {self._kinds}."),
            )
            self.upload.classes("w-full aip-kb-uploader").props(
                f'flat bordered accept="{ACCEPT}" data-testid=kb-upload'
            )
            self.upload.on("finish", lambda: self.upload.reset())
            self.hint = ui.label(self._kinds[0].upper() + self._kinds[1:] + ".")
            self.hint.classes("text-xs aip-muted -mt-2")
            ui.separator()
            self.questions = SavedQuestions(ctx, lambda: self.manage.value, lambda: self.service)
        self.upload.set_visibility(False)
        self.hint.set_visibility(False)
        ui.context.client.on_delete(self._discard)

    # the service ---------------------------------------------------------------------------

    @property
    def service(self) -> KnowledgeBaseService:
        service: KnowledgeBaseService = self.ctx.platform.knowledge
        return service

    @property
    def _limit(self) -> int:
        return min(
            self.ctx.platform.settings.limits.max_upload_bytes,
            self.ctx.platform.settings.rag.max_document_bytes,
        )

    @property
    def _kinds(self) -> str:
        return (
            f"documents must be PDF, Markdown, text, HTML, DOCX or CSV files of at most "
            f"{human_size(self._limit)}"
        )

    async def refresh(self, select: str | None = None) -> None:
        """Load the bases the caller can read (and make `select` the managed one)."""
        caller = self.ctx.principal
        page = await asyncio.to_thread(self.service.search, caller, limit=200)
        options = {b.name: (b.title or b.name) for b in page.items}
        kept = [v for v in self.bases.value or [] if v in options]
        self.bases.set_options(options, value=kept)
        current = select or self.manage.value
        if current not in options:
            current = kept[0] if kept else next(iter(options), None)
        self.manage.set_options(options, value=current)
        self.manage.set_visibility(bool(options))
        await self._load_documents()
        await self.questions.load()

    def load(self, context: dict[str, Any]) -> None:
        """Show a conversation's attached bases and top-k."""
        names = [n for n in context.get("knowledge_bases") or [] if n in self.bases.options]
        self.bases.set_value(names)
        top_k = context.get("top_k")
        self.top_k_input.set_value(top_k if isinstance(top_k, int) else DEFAULT_TOP_K)
        if names and self.manage.value not in names:
            self.manage.set_value(names[0])

    def context(self) -> dict[str, Any]:
        """The conversation's `context`: attached bases and top-k (empty when none)."""
        names = list(self.bases.value or [])
        return {"knowledge_bases": names, "top_k": self.top_k} if names else {}

    # attaching -----------------------------------------------------------------------------

    def _attached(self) -> None:
        names = list(self.bases.value or [])
        if names and self.manage.value not in names:
            self.manage.set_value(names[-1])
        self.on_change()

    def _top_k(self, value: Any) -> None:
        self.top_k = DEFAULT_TOP_K if value is None else min(max(int(value), 1), MAX_TOP_K)
        self.on_change()

    # a new base ----------------------------------------------------------------------------

    def _toggle_new(self) -> None:
        show = not self.new_form.visible
        self.new_form.set_visibility(show)
        if show:
            self.new_name.set_value("")
            self.new_name.run_method("focus")

    async def _create(self) -> None:
        with self.root:
            name = (self.new_name.value or "").strip()
            if _name_problem(name):
                warn(_name_problem(name) or "")
                return
            # Busy until the base is created and the lists are loaded again.
            self.create_button.props("loading")
            try:
                body = KnowledgeBaseCreate(name=name)
                caller = self.ctx.current_principal()
                await asyncio.to_thread(self.service.create, caller, body)
            except ValidationError:
                warn(_NAME_RULE)
                return
            except PlaygroundError as exc:
                show_error(exc)
                return
            finally:
                self.create_button.props(remove="loading")
            self.new_form.set_visibility(False)
            await self.refresh(select=name)
            self.bases.set_value([*(self.bases.value or []), name])
            ui.notify(f"Knowledge base {name} created and attached", position="top")

    # documents -----------------------------------------------------------------------------

    async def _manage_changed(self) -> None:
        with self.root:
            await self._load_documents()
            await self.questions.load()

    async def _load_documents(self) -> None:
        name = self.manage.value
        self.upload.set_visibility(bool(name) and self.ctx.principal.role is not Role.VIEWER)
        self.hint.set_visibility(self.upload.visible)
        if not name:
            self.documents = []
            self._draw_documents()
            return
        try:
            page = await asyncio.to_thread(
                self.service.list_documents, self.ctx.principal, name, limit=200
            )
        except PlaygroundError as exc:  # deleted meanwhile, or no longer shared
            self.documents = []
            self._draw_documents(exc.message)
            return
        if name != self.manage.value:  # another base was picked meanwhile
            return
        self.documents = list(page.items)
        self.questions.set_documents(self.documents)
        self._draw_documents()
        self._follow()

    def _draw_documents(self, problem: str = "") -> None:
        self.docs.clear()
        with self.docs:
            if problem:
                ui.label(problem).classes("text-xs text-negative")
                return
            if not self.manage.value:
                ui.label("No knowledge base yet: make one with New base.").classes(
                    "text-xs aip-muted"
                )
                return
            if not self.documents:
                ui.label("No documents in this base yet.").classes("text-xs aip-muted")
                return
            for document in self.documents:
                self._draw_document(document)

    def _draw_document(self, document: DocumentInfo) -> None:
        icon, colour = STATUS_LOOK.get(document.status, ("help", "aip-muted"))
        with (
            ui.element("div")
            .classes("aip-kb-doc")
            .props(f'data-testid=kb-document data-status="{document.status}"')
        ):
            ui.icon(icon, size="1.1rem").classes(colour + " mt-0.5")
            with ui.element("div").classes("aip-kb-doc-main"):
                ui.label(document.name).classes("aip-kb-doc-name aip-mono").tooltip(document.name)
                ui.label(_state_text(document)).classes("aip-kb-doc-state").props(
                    "data-testid=kb-document-status"
                )
                if document.status == "failed" and document.error:
                    ui.label(document.error).classes("aip-kb-doc-error").props(
                        "data-testid=kb-document-error"
                    )
            if self.ctx.principal.role is not Role.VIEWER:
                ui.button(icon="delete_outline", on_click=lambda d=document: self._remove(d)).props(
                    "flat round dense size=sm data-testid=kb-document-remove"
                ).tooltip("Remove from the base")

    def _follow(self) -> None:
        """Poll while any document is still being ingested; stop once all are done."""
        busy = any(d.status in IN_PROGRESS for d in self.documents)
        if busy and self._timer is None:
            with self.root:
                self._timer = ui.timer(POLL_EVERY_S, self._poll)
        elif not busy and self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def _poll(self) -> None:
        with self.root:
            await self._load_documents()

    async def _remove(self, document: DocumentInfo) -> None:
        name = self.manage.value
        with self.root:
            try:
                caller = self.ctx.current_principal()
                await asyncio.to_thread(self.service.delete_document, caller, name, document.id)
            except PlaygroundError as exc:
                show_error(exc)
                return
            ui.notify(f"{document.name} removed", position="top")
            await self._load_documents()

    # uploads -------------------------------------------------------------------------------

    def _received(self, e: UploadEventArguments) -> None:
        name = self.manage.value
        if not name:
            return
        task = background_tasks.create(self._add(name, e.file), name="knowledge upload")
        self._uploads.add(task)
        task.add_done_callback(self._uploads.discard)

    async def _add(self, base: str, file: FileUpload) -> None:
        with self.root:
            try:
                caller = self.ctx.current_principal()  # the upload route checks no session
            except PlaygroundError as exc:
                show_error(exc)
                return
            if file.size() > self._limit:
                warn(f"{file.name} is larger than the limit of {human_size(self._limit)}.")
                return
            if self.folder is None:
                self.folder = Path(tempfile.mkdtemp(prefix="ui-kb-", dir=self.ctx.platform.staging))
            target = self.folder / f"{next(self._numbers):05d}"
            try:
                await file.save(target)  # streamed in 1 MB chunks
                added = await asyncio.to_thread(
                    self.service.add_documents,
                    caller,
                    base,
                    [IncomingFile(file.name or "document", target)],
                )
            except PlaygroundError as exc:
                show_error(exc)
                return
            finally:
                target.unlink(missing_ok=True)
            for document in added:
                if document.duplicate:
                    ui.notify(
                        f"{file.name} is already in {base} (as {document.name})", position="top"
                    )
                elif document.status == "failed":
                    warn(f"{document.name}: {document.error}")
            if self.manage.value == base:
                await self._load_documents()

    def _discard(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


_NAME_RULE = (
    "Names are 1-128 characters of a-z, 0-9, '.', '_', '-', starting with a letter or digit."
)


def _name_problem(value: str | None) -> str | None:
    if not value:
        return None
    try:
        KnowledgeBaseCreate(name=value)
    except ValidationError:
        return _NAME_RULE
    return None


def _state_text(document: DocumentInfo) -> str:
    size = human_size(document.size)
    if document.status == "ready":
        pages = f" · {document.pages} pages" if document.pages else ""
        plural = "" if document.chunks == 1 else "s"
        return f"Ready · {document.chunks} chunk{plural}{pages} · {size}"
    if document.status == "processing":
        return f"Processing {document.progress:.0%} · {size}"
    if document.status == "queued":
        return f"Queued · {size}"
    if document.status == "failed":
        return "Failed"
    return document.status
