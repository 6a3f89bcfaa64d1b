"""CSV and Parquet files turned into instances: the first rows of their numeric columns.

Bounded three ways: the file's size (in the browser and again here), the rows read
(`MAX_TABLE_ROWS`) and the values read (`MAX_TABLE_VALUES`, and never past the API's element
limit): the page edits JSON in the browser; the CLI and the SDK send whole files.
The file is parsed off the event loop.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

import numpy as np
from nicegui import ui
from nicegui.events import UploadEventArguments

from aiplayground.errors import InvalidInput, PlaygroundError
from aiplayground.ui.pages.catalog_common import human_size
from aiplayground.ui.shell import PageContext, show_error

MAX_TABLE_BYTES = 20_000_000
MAX_TABLE_ROWS = 10_000
MAX_TABLE_VALUES = 100_000  # keeps the editor's text near a megabyte
TABLE_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq")
ACCEPT = ",".join(TABLE_SUFFIXES)


@dataclass(frozen=True)
class Table:
    """Rows read from an uploaded CSV or Parquet file, numeric columns only."""

    name: str
    rows: list[list[Any]]
    columns: list[str]
    dropped: list[str]
    total: int | None  # rows in the file, when known (None: more than were read)

    @property
    def truncated(self) -> bool:
        """True when the file has more rows than were read."""
        return self.total is None or self.total > len(self.rows)


def read_table(name: str, data: bytes, max_rows: int, max_elements: int) -> Table:
    """The first `max_rows` rows of a CSV/TSV/Parquet file's numeric columns."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    suffix = PurePath(name).suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise InvalidInput(f"{name}: upload a .csv, .tsv or .parquet file")
    total: int | None
    try:
        if suffix in (".parquet", ".pq"):
            parquet = pq.ParquetFile(io.BytesIO(data))
            total = parquet.metadata.num_rows
            batch = next(parquet.iter_batches(batch_size=max_rows), None)
            frame = batch.to_pandas() if batch is not None else pd.DataFrame()
        else:
            sep = "\t" if suffix == ".tsv" else ","
            frame = pd.read_csv(io.BytesIO(data), sep=sep, nrows=max_rows + 1)
            total = len(frame) if len(frame) <= max_rows else None
            frame = frame.iloc[:max_rows]
    except (ValueError, UnicodeDecodeError, OSError, pa.ArrowException) as exc:
        kind = "Parquet" if suffix in (".parquet", ".pq") else "CSV"
        raise InvalidInput(f"{name} cannot be read as {kind}: {exc}") from None
    numeric = frame.select_dtypes(include="number")
    dropped = [str(c) for c in frame.columns if c not in numeric.columns]
    if numeric.shape[1] == 0:
        raise InvalidInput(f"{name} has no numeric columns")
    if numeric.shape[0] == 0:
        raise InvalidInput(f"{name} has no rows")
    missing = numeric.isna().any(axis=1).to_numpy()
    if missing.any():
        count, first = int(missing.sum()), int(np.argmax(missing)) + 1
        rows = "1 row has" if count == 1 else f"{count} rows have"
        raise InvalidInput(
            f"{name}: {rows} missing values (the first is row {first}); "
            "JSON has no NaN, so fill or drop them"
        )
    keep = max(1, max_elements // numeric.shape[1])
    numeric = numeric.iloc[:keep]
    kinds = {dtype.kind for dtype in numeric.dtypes}
    array = numeric.to_numpy(dtype=np.int64 if kinds <= {"i", "u"} else np.float64)
    return Table(name, array.tolist(), [str(c) for c in numeric.columns], dropped, total)


class TableUpload:
    """An upload button (the file picker of a hidden uploader) and a note on what was read."""

    def __init__(self, ctx: PageContext, on_rows: Callable[[Any], None]) -> None:
        self.ctx = ctx
        self.on_rows = on_rows
        self.max_values = min(ctx.platform.settings.inference.max_elements, MAX_TABLE_VALUES)
        self.upload = ui.upload(
            auto_upload=True,
            max_file_size=MAX_TABLE_BYTES,
            on_upload=self._received,
            on_rejected=lambda: self._failed(
                f"Files up to {human_size(MAX_TABLE_BYTES)} here; send larger ones with "
                "`aiplayground infer MODEL --data FILE`."
            ),
        )
        self.upload.props(f'accept="{ACCEPT}" data-testid=table-upload').classes("hidden")
        button = ui.button(icon="upload_file").props("flat round dense data-testid=table-button")
        button.tooltip("Upload CSV or Parquet: its rows become the instances")
        button.on("click", js_handler=f"() => getElement({self.upload.id}).$refs.qRef.pickFiles()")
        self.note: ui.element | None = None

    def note_area(self) -> None:
        """Where the note on the last upload goes."""
        self.note = ui.row().classes("w-full items-center gap-2 no-wrap text-sm")
        self.note.props("data-testid=table-note")
        self.note.set_visibility(False)

    def clear(self) -> None:
        """Forget the last upload's note."""
        if self.note is not None:
            self.note.clear()
            self.note.set_visibility(False)

    async def _received(self, e: UploadEventArguments) -> None:
        self.upload.reset()
        try:
            self.ctx.current_principal()  # the upload route itself checks no session
        except PlaygroundError as exc:
            show_error(exc)
            return
        name = e.file.name or "upload"
        if e.file.size() > MAX_TABLE_BYTES:
            self._failed(f"{name} is larger than {human_size(MAX_TABLE_BYTES)}.")
            return
        data = await e.file.read()
        try:
            table = await asyncio.to_thread(read_table, name, data, MAX_TABLE_ROWS, self.max_values)
        except InvalidInput as exc:
            self._failed(exc.message)
            return
        self._show(table)
        self.on_rows({"instances": table.rows})

    def _show(self, table: Table) -> None:
        rows, columns = len(table.rows), len(table.columns)
        text = (
            f"{table.name}: {rows} row{'s' if rows != 1 else ''}, {columns} numeric "
            f"column{'s' if columns != 1 else ''}"
        )
        if table.truncated:
            more = f"of {table.total} " if table.total is not None else ""
            text += f" (the first {rows} {more}rows; the CLI and SDK send whole files)"
        self._note("table_view", text, "aip-muted", warning=table.truncated)
        if table.dropped:
            assert self.note is not None
            with self.note:
                shown = ", ".join(table.dropped[:4]) + ("…" if len(table.dropped) > 4 else "")
                ui.label(f"· left out: {shown}").classes("aip-muted truncate").tooltip(
                    "Columns that are not numbers"
                )

    def _failed(self, message: str) -> None:
        self._note("error_outline", message, "aip-invalid", warning=False)

    def _note(self, icon: str, text: str, tone: str, *, warning: bool) -> None:
        if self.note is None:
            return
        self.note.clear()
        self.note.set_visibility(True)
        with self.note:
            ui.icon("warning" if warning else icon, size="1.1rem").classes(
                "text-warning" if warning else tone
            )
            ui.label(text).classes(tone).props("data-testid=table-note-text")
