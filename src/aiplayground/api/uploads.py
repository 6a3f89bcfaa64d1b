"""Streamed multipart uploads: file parts go straight to staged files, in constant memory.

Starlette's own form parser spools every part before the route sees it and knows no
per-file limit; here each file part is written to a staging file as it arrives, a file
past the limit is refused with 413 at once, and the part and field counts are bounded.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from fastapi import Request
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool

from aiplayground.catalog.files import IncomingFile
from aiplayground.errors import InvalidInput, TooLarge
from aiplayground.settings import LimitSettings

MAX_FIELD_BYTES = 1024 * 1024


def multipart_openapi(*, metadata: bool) -> dict[str, Any]:
    """The OpenAPI request body of a route that reads `staged_upload` itself."""
    properties: dict[str, Any] = {
        "file": {"type": "array", "items": {"type": "string", "format": "binary"}}
    }
    if metadata:
        properties["metadata"] = {"type": "string", "description": "JSON object"}
    schema = {"type": "object", "properties": properties, "required": ["file"]}
    return {
        "requestBody": {
            "required": True,
            "content": {"multipart/form-data": {"schema": schema}},
        }
    }


@dataclass
class _Part:
    name: str = ""
    filename: str | None = None
    headers: dict[bytes, bytes] = field(default_factory=dict)
    size: int = 0
    sink: IO[bytes] | None = None
    value: bytearray = field(default_factory=bytearray)


@dataclass
class UploadForm:
    """The parsed form: staged files by field name, and small text fields."""

    files: dict[str, list[IncomingFile]]
    fields: dict[str, str]

    def files_named(self, name: str = "file") -> list[IncomingFile]:
        """The staged files sent under one field name."""
        return self.files.get(name, [])


class _Collector:
    """Callbacks for python-multipart's streaming parser."""

    def __init__(self, folder: Path, limits: LimitSettings) -> None:
        self.folder = folder
        self.limits = limits
        self.part = _Part()
        self.header_field = bytearray()
        self.header_value = bytearray()
        self.parts = 0
        self.form = UploadForm(files={}, fields={})

    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > self.limits.max_multipart_fields:
            raise InvalidInput(f"too many form parts (limit {self.limits.max_multipart_fields})")
        self.part = _Part()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.part.headers[bytes(self.header_field).lower()] = bytes(self.header_value)
        self.header_field.clear()
        self.header_value.clear()

    def on_headers_finished(self) -> None:
        disposition = self.part.headers.get(b"content-disposition", b"")
        _, options = parse_options_header(disposition)
        self.part.name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        if filename is not None:
            self.part.filename = filename.decode("utf-8", "replace")
            count = sum(len(v) for v in self.form.files.values())
            self.part.sink = (self.folder / f"part-{count}").open("wb")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        self.part.size += len(chunk)
        if self.part.sink is not None:
            if self.part.size > self.limits.max_upload_bytes:
                raise TooLarge(
                    f"file {self.part.filename!r} exceeds the upload limit of "
                    f"{self.limits.max_upload_bytes} bytes"
                )
            self.part.sink.write(chunk)
        else:
            if self.part.size > MAX_FIELD_BYTES:
                raise TooLarge(f"form field {self.part.name!r} exceeds {MAX_FIELD_BYTES} bytes")
            self.part.value += chunk

    def on_part_end(self) -> None:
        part = self.part
        if part.sink is not None:
            part.sink.close()
            staged = IncomingFile(name=part.filename or "file", path=Path(part.sink.name))
            self.form.files.setdefault(part.name, []).append(staged)
        else:
            self.form.fields[part.name] = part.value.decode("utf-8", "replace")

    def close(self) -> None:
        if self.part.sink is not None and not self.part.sink.closed:
            self.part.sink.close()


@asynccontextmanager
async def staged_upload(
    request: Request, staging: Path, limits: LimitSettings
) -> AsyncIterator[UploadForm]:
    """Parse a multipart request into staged files, removed when the block ends."""
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise InvalidInput("expected a multipart/form-data body with one or more 'file' parts")
    staging.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="upload-", dir=staging))
    collector = _Collector(folder, limits)
    callbacks: Any = {
        name: getattr(collector, name)
        for name in (
            "on_part_begin",
            "on_header_field",
            "on_header_value",
            "on_header_end",
            "on_headers_finished",
            "on_part_data",
            "on_part_end",
        )
    }
    parser = MultipartParser(boundary, callbacks)
    try:
        try:
            async for chunk in request.stream():
                # Writing to disk blocks: keep it off the event loop for large chunks.
                if len(chunk) > 256 * 1024:
                    await run_in_threadpool(parser.write, chunk)
                else:
                    parser.write(chunk)
            parser.finalize()
        except MultipartParseError as exc:
            raise InvalidInput(f"malformed multipart body: {exc}") from exc
        yield collector.form
    finally:
        collector.close()
        shutil.rmtree(folder, ignore_errors=True)
