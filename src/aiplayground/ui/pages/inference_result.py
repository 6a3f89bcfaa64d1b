"""The answer to a request, as people read it: predicted classes, per-class probability bars,
a table of every row, the protocol's JSON as a tree, and how long it took; or the error in
the protocol's own words."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import numpy as np
from nicegui import ui

from aiplayground.ui.pages.catalog_common import (
    chip,
    copy_button,
    human_size,
    pre_block,
    section_title,
)

BAR_ROWS = 5  # rows drawn with probability bars; the table has them all
LABEL_CHIPS = 24  # predicted labels listed one by one up to this many rows
MAX_TABLE_COLUMNS = 12
_PHRASES = frozenset(int(s) for s in HTTPStatus)


@dataclass
class Predictions:
    """A response reduced to rows: named columns, predicted labels and class probabilities."""

    rows: int = 0
    columns: dict[str, list[Any]] = field(default_factory=dict)
    labels: list[Any] | None = None
    probabilities: np.ndarray[Any, Any] | None = None
    classes: list[str] = field(default_factory=list)


def predictions(answer: Any, classifier: bool) -> Predictions:
    """Read a v1 (`predictions`) or v2 (`outputs`) answer into rows."""
    found = Predictions()
    if isinstance(answer, dict) and isinstance(answer.get("outputs"), list):
        for output in answer["outputs"]:
            _add_output(found, output)
    elif isinstance(answer, dict) and isinstance(answer.get("predictions"), list):
        values = answer["predictions"]
        found.rows = len(values)
        matrix = _probability_matrix(values, named=False)
        if matrix is not None:
            found.probabilities = matrix
        else:
            found.columns["prediction"] = values
            if classifier and all(_scalar(v) for v in values):
                found.labels = values
    if found.probabilities is None and not classifier:
        found.labels = None  # values (regression, embeddings), not classes
    if found.probabilities is not None:
        if found.labels is None:
            found.labels = found.probabilities.argmax(axis=1).tolist()
        found.classes = _class_names(found.probabilities, found.labels)
    return found


def _add_output(found: Predictions, output: Any) -> None:
    if not isinstance(output, dict) or "data" not in output:
        return
    name, shape = str(output.get("name", "output")), output.get("shape") or []
    try:
        array = np.asarray(output["data"], dtype=object).reshape(shape)
    except (ValueError, TypeError):
        return
    if array.ndim == 0:
        return
    found.rows = max(found.rows, array.shape[0])
    values = array.tolist()
    if found.probabilities is None and array.ndim == 2:
        matrix = _probability_matrix(values, named="prob" in name.lower())
        if matrix is not None:
            found.probabilities = matrix
            return
    if found.labels is None and array.ndim == 1 and all(_scalar(v) for v in values):
        found.labels = values
    found.columns[name] = values


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) or value is None


def _probability_matrix(values: Any, named: bool) -> np.ndarray[Any, Any] | None:
    """Rows of per-class probabilities (floats in [0, 1] that sum to 1), or None."""
    try:
        matrix = np.asarray(values, dtype=np.float64)
    except (ValueError, TypeError):
        return None
    if matrix.ndim != 2 or matrix.shape[1] < 2 or not matrix.size:
        return None
    if not np.isfinite(matrix).all() or matrix.min() < 0 or matrix.max() > 1:
        return None
    if not named and not np.allclose(matrix.sum(axis=1), 1.0, atol=1e-3):
        return None
    return matrix


def _class_names(probabilities: np.ndarray[Any, Any], labels: list[Any]) -> list[str]:
    """Each column's class: the label of the rows where it is the most likely one."""
    seen: dict[int, Any] = {}
    for row, column in enumerate(probabilities.argmax(axis=1).tolist()[: len(labels)]):
        seen.setdefault(column, labels[row])
    if all(label == column for column, label in seen.items()):
        return [str(j) for j in range(probabilities.shape[1])]  # labels are column indices
    return [str(seen[j]) if j in seen else f"class {j}" for j in range(probabilities.shape[1])]


# drawing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    """How long a request took: infer() alone and the whole request on the server."""

    infer_ms: float | None
    server_ms: float
    loaded: bool = True  # False when this request had to load the model first


def timing_chips(status: int, timing: Timing) -> ui.element:
    """Status, time in infer(), time on the server and (filled in later) the round trip."""
    with ui.row().classes("items-center gap-2").props("data-testid=result-timing") as row:
        ok = status < 400
        chip(
            f"{status} {HTTPStatus(status).phrase}" if status in _PHRASES else f"HTTP {status}",
            "check_circle" if ok else "error",
            accent="#059669" if ok else "#dc2626",
            testid="result-status",
        )
        if timing.infer_ms is not None:
            chip(
                f"infer() {timing.infer_ms:.1f} ms" + ("" if timing.loaded else ", model loaded"),
                "bolt",
                outline=True,
                testid="latency-infer",
                tooltip="Time in the data plane: validation, batching and the model worker"
                + ("" if timing.loaded else "; this request loaded the model first"),
            )
        chip(
            f"server {timing.server_ms:.1f} ms",
            "dns",
            outline=True,
            testid="latency-server",
            tooltip="Decoding, infer() and encoding, as the REST route does them",
        )
    return row


def round_trip_chip(container: ui.element, elapsed_ms: float) -> None:
    """Add the browser's round trip (click to answer drawn) to the timing chips."""
    with container:
        chip(
            f"round trip {elapsed_ms:.0f} ms",
            "sync_alt",
            outline=True,
            testid="latency-round-trip",
            tooltip="From the click in your browser to the answer drawn here",
        )


def error_view(status: int, message: str, body: Any) -> None:
    """The protocol's error: status, message, and the JSON a client would get."""
    phrase = HTTPStatus(status).phrase if status in _PHRASES else "Error"
    with ui.column().classes("aip-error w-full gap-2 p-4").props("data-testid=result-error"):
        with ui.row().classes("items-center gap-2 no-wrap"):
            ui.icon("error_outline", size="1.4rem").classes("text-negative")
            ui.label(f"{status} {phrase}").classes("font-semibold")
        ui.label(message).classes("aip-error-message").props("data-testid=result-error-message")
        pre_block(json.dumps(body, ensure_ascii=False), testid="result-error-body")


def predictions_view(found: Predictions, answer: Any, size: int) -> None:
    """Tabs: the predictions (labels, bars, table) and the raw JSON as a tree (drawn when
    opened: the tree's script is large and most answers are read in the first tab)."""
    tabs = ui.tabs().props("dense no-caps align=left inline-label breakpoint=0").classes("w-full")
    with tabs:
        table_tab = ui.tab("predictions", label="Predictions", icon="insights")
        ui.tab("json", label="JSON", icon="account_tree").props("data-testid=result-json-tab")
    with ui.tab_panels(tabs, value=table_tab).classes("w-full bg-transparent"):
        with ui.tab_panel("predictions").classes("p-0 pt-3 gap-4"):
            _summary(found)
            if found.probabilities is not None:
                _bars(found)
            if found.rows and (found.columns or found.probabilities is not None):
                _table(found)
        json_panel = ui.tab_panel("json").classes("p-0 pt-3")
        with json_panel, ui.row().classes("w-full items-center"):
            section_title(f"Response body · {human_size(size)}")
            ui.space()
            copy_button(json.dumps(answer, ensure_ascii=False), "Response")
    drawn = False

    def open_tree(e: Any) -> None:
        nonlocal drawn
        if e.value == "json" and not drawn:
            drawn = True
            with json_panel:
                ui.json_editor(
                    {
                        "content": {"json": answer},
                        "readOnly": True,
                        "mainMenuBar": False,
                        "navigationBar": False,
                        "mode": "tree",
                    },
                ).classes("aip-json w-full").props("data-testid=result-json")

    tabs.on_value_change(open_tree)


def _summary(found: Predictions) -> None:
    noun = "prediction" if found.rows == 1 else "predictions"
    with ui.row().classes("w-full items-center gap-2").props("data-testid=result-summary"):
        ui.label(f"{found.rows} {noun}").classes("text-lg font-semibold").props(
            "data-testid=result-count"
        )
        if found.labels is None:
            return
        ui.label("·").classes("aip-muted")
        if len(found.labels) <= LABEL_CHIPS:
            ui.label("predicted").classes("aip-muted text-sm")
            for label in found.labels:
                chip(str(label), accent="#4f46e5", testid="prediction-label")
            return
        ui.label("predicted classes").classes("aip-muted text-sm")
        values, counts = np.unique(np.asarray([str(v) for v in found.labels]), return_counts=True)
        for value, count in sorted(zip(values, counts, strict=True), key=lambda p: -p[1]):
            chip(f"{value}: {count}", accent="#4f46e5", testid="prediction-count")


def _bars(found: Predictions) -> None:
    assert found.probabilities is not None
    assert found.labels is not None
    shown = min(found.rows, BAR_ROWS)
    title = "Class probabilities" + (f" (first {shown} rows)" if found.rows > shown else "")
    section_title(title)
    with ui.element("div").classes("aip-bars-grid w-full"):
        for row in range(shown):
            probabilities = found.probabilities[row]
            best = int(probabilities.argmax())
            with ui.column().classes("aip-metric gap-1.5").props("data-testid=probability-row"):
                with ui.row().classes("w-full items-baseline gap-2 no-wrap"):
                    ui.label(f"Row {row + 1}").classes("text-xs aip-muted")
                    ui.label(str(found.labels[row])).classes("font-semibold truncate")
                for column, value in enumerate(probabilities.tolist()):
                    _bar(found.classes[column], value, column == best)


def _bar(name: str, value: float, best: bool) -> None:
    with ui.element("div").classes("aip-bar" + (" aip-bar-best" if best else "")):
        ui.label(name).classes("aip-bar-name truncate")
        with ui.element("div").classes("aip-bar-track"):
            ui.element("div").classes("aip-bar-fill").style(f"width: {value * 100:.1f}%")
        ui.label(f"{value * 100:.1f}%").classes("aip-bar-value").props("data-testid=probability")


def _table(found: Predictions) -> None:
    narrow = "width: 3rem"
    columns = [
        {"name": "row", "label": "#", "field": "row", "align": "right", "style": narrow},
    ]
    rows: list[dict[str, Any]] = [{"row": i + 1} for i in range(found.rows)]
    for index, (name, values) in enumerate(list(found.columns.items())[:MAX_TABLE_COLUMNS]):
        key = f"c{index}"
        columns.append({"name": key, "label": name, "field": key, "align": "left"})
        for i, value in enumerate(values[: found.rows]):
            rows[i][key] = _cell(value)
    if found.probabilities is not None:
        if found.labels is not None and not found.columns:
            columns.append({"name": "label", "label": "class", "field": "label", "align": "left"})
            for i, label in enumerate(found.labels[: found.rows]):
                rows[i]["label"] = str(label)
        columns.append({"name": "p", "label": "confidence", "field": "p", "align": "left"})
        for i, value in enumerate(found.probabilities.max(axis=1).tolist()[: found.rows]):
            rows[i]["p"] = round(value * 100, 1)
    paged = found.rows > 10
    table = ui.table(columns=columns, rows=rows, row_key="row", pagination=10 if paged else 0)
    table.classes("aip-table w-full").props("flat dense wrap-cells data-testid=result-table")
    table.props(":rows-per-page-options='[10, 25, 100]'" if paged else "hide-bottom")
    if found.probabilities is not None:
        table.add_slot(
            "body-cell-p",
            '<q-td :props="props"><div class="aip-cell-bar">'
            '<div class="aip-bar-track"><div class="aip-bar-fill" '
            ":style=\"{width: props.value + '%'}\"></div></div>"
            "<span>{{ props.value }}%</span></div></q-td>",
        )


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        text = json.dumps(value, ensure_ascii=False)
        return text if len(text) <= 200 else text[:199] + "…"
    return str(value)
