"""Staged uploads for the catalog dialogs.

NiceGUI's `ui.upload` (Quasar's QUploader) posts each file to its own route. Starlette
spools the multipart body to a temporary file past 1 MB, and NiceGUI hands over a
`FileUpload` that is in memory up to 1 MB and a temporary file beyond. `StagedUploads`
streams it in 1 MB chunks into a private folder under `platform.staging`, so a large file
never sits in RAM. The size limit is enforced in the browser (`max_file_size`), again
here, and a third time by the artifact store when the service stores the file.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from nicegui import background_tasks, ui
from nicegui.elements.upload_files import FileUpload
from nicegui.events import UploadEventArguments

from aiplayground.catalog.files import IncomingFile
from aiplayground.errors import PlaygroundError
from aiplayground.ui.pages.catalog_common import human_size
from aiplayground.ui.pages.catalog_forms import warn
from aiplayground.ui.shell import PageContext, show_error


class StagedUploads:
    """Files picked in the browser, uploaded at once and kept in a private staging folder."""

    def __init__(
        self,
        ctx: PageContext,
        *,
        multiple: bool = True,
        accept: str | None = None,
        label: str = "Drop files here or click + to choose",
        on_added: Callable[[str], None] | None = None,
        testid: str = "field-files",
    ) -> None:
        self.ctx = ctx
        self.limit = ctx.platform.settings.limits.max_upload_bytes
        self.folder = Path(tempfile.mkdtemp(prefix="ui-upload-", dir=ctx.platform.staging))
        self.files: dict[str, tuple[IncomingFile, int]] = {}
        self.saving: set[asyncio.Task[None]] = set()
        self.uploading = False
        self.closed = False
        self.on_added = on_added
        self._numbers = itertools.count()
        with ui.column().classes("w-full gap-2") as self.container:
            self.upload = ui.upload(
                multiple=multiple,
                auto_upload=True,
                max_file_size=self.limit,
                label=label,
                on_upload=self._received,
                on_rejected=lambda: warn(
                    f"That file is larger than the limit of {human_size(self.limit)}."
                ),
            )
            self.upload.classes("w-full aip-uploader").props(
                f"flat bordered data-testid={testid}" + (f' accept="{accept}"' if accept else "")
            )
            self.upload.on("start", lambda: self._uploading(True))
            self.upload.on("finish", lambda: self._uploading(False))
            self.listing = ui.column().classes("w-full gap-1")
        ui.label(
            f"Up to {human_size(self.limit)} per file; a progress bar shows while it uploads."
        ).classes("text-xs aip-muted -mt-2")
        ctx_client = ui.context.client
        ctx_client.on_delete(self.discard)

    def _uploading(self, value: bool) -> None:
        self.uploading = value
        if not value:
            self.upload.reset()

    def _received(self, e: UploadEventArguments) -> None:
        task = background_tasks.create(self._save(e.file), name="stage upload")
        self.saving.add(task)
        task.add_done_callback(self.saving.discard)

    async def _save(self, file: FileUpload) -> None:
        if self.closed:
            return
        with self.container:
            try:
                self.ctx.current_principal()  # the upload route itself checks no session
            except PlaygroundError as exc:
                show_error(exc)
                return
            size = file.size()
            if size > self.limit:
                warn(f"{file.name} is larger than the limit of {human_size(self.limit)}.")
                return
        name = file.name or "file"
        target = self.folder / f"{next(self._numbers):05d}"
        await file.save(target)  # streamed in 1 MB chunks
        if self.closed:  # the dialog closed while the file was being copied
            shutil.rmtree(self.folder, ignore_errors=True)
            return
        previous = self.files.pop(name, None)
        if previous is not None:
            previous[0].path.unlink(missing_ok=True)
        self.files[name] = (IncomingFile(name, target), size)
        with self.container:
            self._draw()
            if self.on_added is not None:
                self.on_added(name)

    def _draw(self) -> None:
        self.listing.clear()
        with self.listing:
            for name, (_, size) in self.files.items():
                with (
                    ui.row()
                    .classes("w-full items-center no-wrap gap-2 px-3 py-1.5 rounded-md aip-metric")
                    .props("data-testid=staged-file")
                ):
                    ui.icon("check_circle", size="1.1rem").classes("text-positive")
                    ui.label(name).classes("aip-mono text-sm truncate grow")
                    ui.label(human_size(size)).classes("text-xs aip-muted whitespace-nowrap")
                    ui.button(icon="close", on_click=lambda n=name: self.remove(n)).props(
                        "flat round dense size=sm"
                    ).tooltip("Remove")

    def remove(self, name: str) -> None:
        """Drop one staged file."""
        entry = self.files.pop(name, None)
        if entry is not None:
            entry[0].path.unlink(missing_ok=True)
        self._draw()

    async def ready(self) -> list[IncomingFile] | None:
        """The staged files once every upload is saved; None (and a warning) while uploading."""
        if self.uploading:
            warn("Wait until the upload has finished.")
            return None
        if self.saving:
            await asyncio.gather(*list(self.saving))
        return [incoming for incoming, _ in self.files.values()]

    def discard(self) -> None:
        """Delete the staging folder (on close; a restart sweeps what a crash left)."""
        self.closed = True
        self.files.clear()
        shutil.rmtree(self.folder, ignore_errors=True)
