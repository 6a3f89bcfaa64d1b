"""ROOT files on the Inference page, for model versions that carry a preprocessing.

The card takes one `.root` file (streamed in 1 MB chunks into a private staging folder,
the platform's upload size limit in the browser and again here), lists its trees and
sends it through `hep.predict.predict_root`: the version's stored preprocessing, then the
one data plane, as the `predict-root` route does. The answer is one prediction per kept
event, or with the switch on the class probabilities of each; the downloads are written
by the same writers the route uses (CSV, Parquet, or a copy of the tree with the
predictions as branches). Reading, writing and inference run off the event loop.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from nicegui import run, ui
from nicegui.events import UploadEventArguments

from aiplayground.catalog.schemas import ModelVersionInfo
from aiplayground.errors import PlaygroundError
from aiplayground.hep.predict import MEDIA_TYPES, Predictions, write_root, write_table
from aiplayground.ui.pages.catalog_common import chip, human_size, section_title
from aiplayground.ui.pages.inference_style import MARK_CLICK
from aiplayground.ui.shell import PageContext, show_error

MAX_TABLE_ROWS = 10_000  # rows drawn in the browser; the downloads have every event
CLASS_CHIPS = 8
DOWNLOADS = (("csv", "CSV"), ("parquet", "Parquet"), ("root", "ROOT"))


def preprocessing_of(version: ModelVersionInfo | None) -> dict[str, Any] | None:
    """The preprocessing a version carries in its params, if any."""
    if version is None:
        return None
    found = version.params.get("preprocessing")
    return found if isinstance(found, dict) else None


@dataclass
class RootFile:
    """An uploaded ROOT file kept for this page: where it is and what trees it has."""

    name: str
    path: Path
    size: int
    trees: dict[str, int] = field(default_factory=dict)  # tree -> entries


class RootUpload:
    """The ROOT card: upload, tree, Send. Hidden unless the version carries a preprocessing."""

    def __init__(self, ctx: PageContext, on_send: Callable[[], Awaitable[None]]) -> None:
        self.ctx = ctx
        self.limit = ctx.platform.settings.limits.max_upload_bytes
        self.folder: Path | None = None
        self.file: RootFile | None = None
        self.default_tree: str | None = None
        self.pinned: set[Path] = set()  # files the shown predictions still need
        self._numbers = itertools.count()
        self.card = ui.card().classes("aip-card w-full p-4 gap-3 min-w-0")
        self.card.props("data-testid=root-card")
        with self.card:
            with ui.row().classes("w-full items-center gap-2"):
                ui.label("ROOT file").classes("text-lg font-medium")
                self.features = ui.row().classes("items-center gap-2")
                ui.space()
                self.upload = ui.upload(
                    auto_upload=True,
                    max_file_size=self.limit,
                    on_upload=self._received,
                    on_rejected=lambda: self._note_error(
                        f"Files up to {human_size(self.limit)} here."
                    ),
                )
                self.upload.props('accept=".root" data-testid=root-upload').classes("hidden")
                button = ui.button("Upload .root", icon="upload_file").props(
                    "outline no-caps data-testid=root-upload-button"
                )
                button.on(
                    "click", js_handler=f"() => getElement({self.upload.id}).$refs.qRef.pickFiles()"
                )
            ui.label(
                "This version carries a preprocessing: each event of the file becomes one row "
                "of features, then one prediction; events its cuts drop get none."
            ).classes("text-sm aip-muted")
            self.note = ui.row().classes("w-full items-center gap-2 no-wrap text-sm")
            self.note.props("data-testid=root-file-note")
            self.note.set_visibility(False)
            with ui.row().classes("w-full items-center gap-3 no-wrap"):
                self.tree_select = ui.select({}, label="Tree").props(
                    "outlined dense options-dense data-testid=root-tree-select"
                )
                self.tree_select.classes("grow min-w-[12rem]")
                self.proba = ui.switch("Class probabilities").props(
                    "dense data-testid=root-proba-switch"
                )
                self.proba.classes("text-sm").tooltip(
                    "One probability per class and event (predict_proba), not the labels"
                )
                self.send_button = ui.button("Send file", icon="send").props(
                    "unelevated no-caps data-testid=root-send"
                )
                self.send_button.on("click", on_send, js_handler=MARK_CLICK)
                self.send_button.disable()
        self.card.set_visibility(False)
        ui.context.client.on_delete(self.discard)

    @property
    def probabilities(self) -> bool:
        """True when class probabilities are asked for rather than labels."""
        return bool(self.proba.visible and self.proba.value)

    @property
    def tree(self) -> str | None:
        """The chosen tree."""
        value = self.tree_select.value
        return value if isinstance(value, str) else None

    def model_changed(self, version: ModelVersionInfo | None, probabilities: bool) -> None:
        """Show the card for versions with a preprocessing; its tree becomes the default.

        `probabilities`: the model can answer class probabilities (the switch is shown).
        """
        pre = preprocessing_of(version)
        self.card.set_visibility(pre is not None)
        self.proba.set_visibility(probabilities)
        self.features.clear()
        if pre is None:
            return
        tree = pre.get("tree")
        self.default_tree = tree if isinstance(tree, str) else None
        features = version.params.get("feature_names") if version is not None else None
        with self.features:
            if self.default_tree:
                chip(f"tree {self.default_tree}", "account_tree", outline=True)
            if isinstance(features, list):
                chip(
                    f"{len(features)} features",
                    "tune",
                    outline=True,
                    tooltip=", ".join(str(f) for f in features[:40]),
                )
        self._choose_tree()

    def sending(self, busy: bool) -> None:
        """Show the Send button busy (or not)."""
        if busy:
            self.send_button.props("loading")
        else:
            self.send_button.props(remove="loading")

    def pin(self, path: Path | None) -> None:
        """Keep this file (the shown predictions' source) and drop the others not in use."""
        self.pinned = {path} if path is not None else set()
        self._sweep()

    def discard(self) -> None:
        """Delete the staging folder (the page closed; a restart sweeps what a crash left)."""
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    # the upload --------------------------------------------------------------------------

    async def _received(self, e: UploadEventArguments) -> None:
        self.upload.reset()
        try:
            self.ctx.current_principal()  # the upload route itself checks no session
        except PlaygroundError as exc:
            show_error(exc)
            return
        name = e.file.name or "upload.root"
        size = e.file.size()
        if size > self.limit:
            self._note_error(f"{name} is larger than {human_size(self.limit)}.")
            return
        if self.folder is None:
            self.folder = Path(tempfile.mkdtemp(prefix="ui-root-", dir=self.ctx.platform.staging))
        target = self.folder / f"{next(self._numbers):05d}.root"
        await e.file.save(target)  # streamed in 1 MB chunks
        try:
            trees = await run.io_bound(_trees, target)
        except PlaygroundError as exc:
            target.unlink(missing_ok=True)
            # The reader names the staged copy; the user knows the file by its own name.
            self._note_error(exc.message.replace(target.name, name))
            return
        if trees is None:
            return  # the server is stopping
        self.file = RootFile(name, target, size, trees)
        self._sweep()
        self._note_file()
        self._choose_tree()

    def _choose_tree(self) -> None:
        if self.file is None:
            self.tree_select.set_options({})
            self.send_button.disable()
            return
        options = {
            name: f"{name} · {entries:,} events" for name, entries in self.file.trees.items()
        }
        chosen = self.default_tree if self.default_tree in options else next(iter(options), None)
        self.tree_select.set_options(options, value=chosen)
        self.send_button.set_enabled(chosen is not None)

    def _sweep(self) -> None:
        if self.folder is None:
            return
        keep = {*self.pinned, *([self.file.path] if self.file is not None else [])}
        for path in self.folder.iterdir():
            if path not in keep:
                path.unlink(missing_ok=True)

    def _note_file(self) -> None:
        assert self.file is not None
        self.note.clear()
        self.note.set_visibility(True)
        trees = len(self.file.trees)
        with self.note:
            ui.icon("check_circle", size="1.1rem").classes("text-positive")
            ui.label(
                f"{self.file.name} · {human_size(self.file.size)} · "
                f"{trees} tree{'s' if trees != 1 else ''}"
            ).classes("aip-muted truncate").props("data-testid=root-file-note-text")
        if not self.file.trees:
            self._note_error(f"{self.file.name} has no TTree or RNTuple.")

    def _note_error(self, message: str) -> None:
        self.note.clear()
        self.note.set_visibility(True)
        with self.note:
            ui.icon("error_outline", size="1.1rem").classes("aip-invalid")
            ui.label(message).classes("aip-invalid").props("data-testid=root-file-note-text")


def _trees(path: Path) -> dict[str, int]:
    from aiplayground.hep.reader import describe

    return {str(t["name"]): int(t["entries"]) for t in describe(path)}


# the answer ---------------------------------------------------------------------------


@dataclass
class RootAnswer:
    """Predictions for one file and tree, and what is needed to write the downloads."""

    predictions: Predictions
    source: Path
    file_name: str
    events: int | None  # entries in the tree
    classes: dict[str, str] = field(default_factory=dict)  # label -> class name

    @property
    def kept(self) -> int:
        """Events that got a prediction."""
        return int(self.predictions.entries.size)

    @property
    def cut(self) -> int | None:
        """Events the preprocessing dropped."""
        return None if self.events is None else self.events - self.kept


def class_names(version: ModelVersionInfo | None) -> dict[str, str]:
    """The version's `params["classes"]` (label -> name), when it has them."""
    found = version.params.get("classes") if version is not None else None
    if not isinstance(found, dict):
        return {}
    return {str(k): str(v) for k, v in found.items()}


def answer_view(answer: RootAnswer, staging: Path) -> None:
    """Counts (kept and cut events), predicted classes, the downloads and the table."""
    values = answer.predictions.prediction
    labels = _labels(values)
    with ui.column().classes("w-full gap-3").props("data-testid=root-result"):
        with ui.row().classes("w-full items-center gap-2").props("data-testid=result-summary"):
            noun = "prediction" if answer.kept == 1 else "predictions"
            ui.label(f"{answer.kept:,} {noun}").classes("text-lg font-semibold").props(
                "data-testid=result-count"
            )
            ui.label(f"· {answer.file_name}").classes("aip-muted text-sm truncate")
        if answer.events is not None:
            ui.label(
                f"{answer.events:,} events in tree {answer.predictions.tree}: "
                f"{answer.kept:,} kept, {answer.cut:,} cut by the preprocessing"
            ).classes("aip-muted text-sm -mt-2").props("data-testid=root-kept-cut")
        if labels is not None:
            with ui.row().classes("w-full items-center gap-2"):
                ui.label("predicted classes").classes("aip-muted text-sm")
                found, counts = np.unique(np.asarray([str(v) for v in labels]), return_counts=True)
                ranked = sorted(zip(found, counts, strict=True), key=lambda p: -p[1])
                for value, count in ranked[:CLASS_CHIPS]:
                    name = answer.classes.get(str(value))
                    text = f"{name} ({value})" if name else str(value)
                    chip(f"{text}: {count:,}", accent="#4f46e5", testid="prediction-count")
        with ui.row().classes("w-full items-center gap-2"):
            section_title("Download")
            for fmt, label in DOWNLOADS:
                ui.button(
                    label,
                    icon="download",
                    on_click=lambda fmt=fmt: _download(answer, fmt, staging),
                ).props(f"outline dense no-caps data-testid=root-download-{fmt}").tooltip(
                    "A copy of the tree's numeric branches for the kept events, plus a "
                    "`prediction` branch (`prediction_0`, ... for probabilities)"
                    if fmt == "root"
                    else "Tree entry and prediction of each kept event"
                )
        _table(answer, labels)


def _labels(values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any] | None:
    """One class label per event: the values themselves, or the most likely column."""
    if values.ndim == 1:
        return values if values.dtype.kind in "biu" else None
    if values.ndim == 2 and values.shape[1] > 1 and _probabilities(values):
        labels: np.ndarray[Any, Any] = values.argmax(axis=1)
        return labels
    return None


def _probabilities(values: np.ndarray[Any, Any]) -> bool:
    if not values.size or values.dtype.kind != "f" or not np.isfinite(values).all():
        return False
    return bool(
        values.min() >= 0 and values.max() <= 1 and np.allclose(values.sum(axis=1), 1, atol=1e-3)
    )


def _table(answer: RootAnswer, labels: np.ndarray[Any, Any] | None) -> None:
    predictions = answer.predictions
    shown = min(answer.kept, MAX_TABLE_ROWS)
    entries = predictions.entries[:shown].tolist()
    values = predictions.prediction[:shown]
    columns: list[dict[str, Any]] = [
        {"name": "event", "label": "event", "field": "event", "align": "right"},
    ]
    rows: list[dict[str, Any]] = [{"event": int(e)} for e in entries]
    if values.ndim == 1:
        columns.append({"name": "p", "label": "prediction", "field": "p", "align": "left"})
        for row, value in zip(rows, values.tolist(), strict=True):
            row["p"] = _cell(value)
    else:
        width = values.shape[1]
        for j in range(min(width, 12)):
            name = answer.classes.get(str(j))
            label = f"p({name})" if name and labels is not None else f"prediction_{j}"
            columns.append({"name": f"p{j}", "label": label, "field": f"p{j}", "align": "left"})
        for row, value in zip(rows, values.tolist(), strict=True):
            row.update({f"p{j}": _cell(v) for j, v in enumerate(value[:12])})
    if labels is not None and answer.classes:
        columns.append({"name": "class", "label": "class", "field": "class", "align": "left"})
        for row, label in zip(rows, labels[:shown].tolist(), strict=True):
            row["class"] = answer.classes.get(str(label), str(label))
    table = ui.table(columns=columns, rows=rows, row_key="event", pagination=10)
    table.classes("aip-table w-full").props(
        "flat dense wrap-cells data-testid=result-table :rows-per-page-options='[10, 25, 100]'"
    )
    if answer.kept > shown:
        ui.label(
            f"The table shows the first {shown:,} of {answer.kept:,} events; the downloads "
            "have all of them."
        ).classes("text-xs aip-muted")


def _cell(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


async def _download(answer: RootAnswer, fmt: str, staging: Path) -> None:
    stem = Path(answer.file_name).stem or "events"
    filename = f"{stem}-{answer.predictions.model_name}-predictions.{fmt}"
    try:
        data = await run.io_bound(_write, answer, fmt, staging)
    except PlaygroundError as exc:
        show_error(exc)
        return
    if data is not None:  # None: the server is stopping
        ui.download.content(data, filename, MEDIA_TYPES[fmt])


def _write(answer: RootAnswer, fmt: str, staging: Path) -> bytes:
    """The download's bytes, written by the route's own writers into a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="ui-predict-", dir=staging) as folder:
        out = Path(folder) / f"predictions.{fmt}"
        if fmt == "root":
            write_root(answer.predictions, answer.source, out)
        elif fmt == "csv":
            write_table(answer.predictions, out, "csv")
        else:
            write_table(answer.predictions, out, "parquet")
        return out.read_bytes()
