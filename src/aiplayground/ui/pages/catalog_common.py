"""What the catalog pages share: labels, icons, chips, styles, links and safe text blocks.

Everything a user wrote is drawn as text (`ui.label`, table cells) or as Markdown through
`aiplayground.ui.markdown.render_markdown`; nothing user-given reaches `ui.html` raw.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote, urlencode, urlsplit

from nicegui import ui

from aiplayground.auth.principal import Principal, Role
from aiplayground.catalog.schemas import (
    DatasetFormat,
    DatasetInfo,
    ModelFormat,
    ModelInfo,
    Objective,
    Protocol,
    Visibility,
)
from aiplayground.ui.markdown import MAX_SOURCE_CHARS, render_markdown

Kind = Literal["models", "datasets"]

OBJECTIVES: dict[Objective, tuple[str, str, str]] = {
    # label, icon, accent colour (light theme; the dark theme lightens it in CSS)
    Objective.CLASSIFICATION: ("Classification", "category", "#4f46e5"),
    Objective.REGRESSION: ("Regression", "show_chart", "#0d9488"),
    Objective.TEXT_GENERATION: ("Text generation", "chat", "#7c3aed"),
    Objective.EMBEDDINGS: ("Embeddings", "scatter_plot", "#d97706"),
    Objective.OTHER: ("Other", "widgets", "#475569"),
}
MODEL_FORMATS: dict[ModelFormat, str] = {
    ModelFormat.SKLEARN: "scikit-learn",
    ModelFormat.XGBOOST: "XGBoost",
    ModelFormat.LIGHTGBM: "LightGBM",
    ModelFormat.ONNX: "ONNX",
    ModelFormat.PYTORCH: "PyTorch",
    ModelFormat.KERAS: "Keras",
    ModelFormat.HUGGINGFACE: "Hugging Face",
    ModelFormat.GGUF: "GGUF",
    ModelFormat.REMOTE: "Remote endpoint",
}
DATASET_FORMATS: dict[DatasetFormat, tuple[str, str, str]] = {
    DatasetFormat.CSV: ("CSV", "table_chart", "#059669"),
    DatasetFormat.PARQUET: ("Parquet", "view_column", "#2563eb"),
    DatasetFormat.ROOT: ("ROOT", "blur_on", "#db2777"),
    DatasetFormat.JSON: ("JSON", "data_object", "#ca8a04"),
    DatasetFormat.DOCUMENTS: ("Documents", "description", "#64748b"),
}
PROTOCOLS: dict[Protocol, str] = {
    Protocol.KSERVE_V1: "KServe v1",
    Protocol.KSERVE_V2: "KServe v2",
    Protocol.OPENAI: "OpenAI-compatible",
}
# Formats the platform's own KServe v1/v2 routes can load and serve.
SERVED_FORMATS = frozenset(
    {
        ModelFormat.SKLEARN,
        ModelFormat.XGBOOST,
        ModelFormat.LIGHTGBM,
        ModelFormat.ONNX,
        ModelFormat.PYTORCH,
        ModelFormat.KERAS,
        ModelFormat.HUGGINGFACE,
    }
)

# links -------------------------------------------------------------------------------


def detail_path(kind: Kind, name: str) -> str:
    """The page of one model or dataset."""
    return f"/catalog/{kind}/{quote(name, safe='')}"


def list_path(kind: Kind, **filters: str | None) -> str:
    """The catalog list, on one tab, with filters."""
    query = {"tab": kind, **{k: v for k, v in filters.items() if v}}
    return f"/catalog?{urlencode(query)}"


def download_url(kind: Kind, name: str, version: int, path: str) -> str:
    """The REST route of one stored file (the session cookie authenticates the GET)."""
    return f"/api/v1/{kind}/{quote(name, safe='')}/versions/{version}/files/{quote(path, safe='/')}"


def host_of(url: str) -> str:
    """The host (and port) of a URL, for cards."""
    try:
        return urlsplit(url).netloc or url
    except ValueError:
        return url


# permissions -------------------------------------------------------------------------


def can_write(principal: Principal) -> bool:
    """True when the caller may create entries."""
    return principal.role is not Role.VIEWER


def can_change(principal: Principal, entry: ModelInfo | DatasetInfo) -> bool:
    """True when the caller may edit or delete the entry (the service checks again)."""
    return can_write(principal) and (principal.role is Role.ADMIN or entry.owner == principal.name)


# formatting --------------------------------------------------------------------------


def human_size(size: int) -> str:
    """Bytes as a person reads them: 512 B, 1.2 kB, 45.3 MB."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"  # pragma: no cover


def ago(moment: datetime, now: datetime | None = None) -> str:
    """How long ago, in the largest unit that fits ('3 days ago')."""
    now = now or datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    seconds = max(0, int((now - moment).total_seconds()))
    for unit, span in (("year", 31_536_000), ("month", 2_592_000), ("day", 86_400)):
        if seconds >= span:
            count = seconds // span
            return f"{count} {unit}{'s' if count > 1 else ''} ago"
    for unit, span in (("hour", 3600), ("minute", 60)):
        if seconds >= span:
            count = seconds // span
            return f"{count} {unit}{'s' if count > 1 else ''} ago"
    return "just now"


def pretty_json(value: Any, limit: int = 20_000) -> str:
    """JSON for people: short arrays and objects on one line, cut at `limit` characters."""
    try:
        flat = json.dumps(value, ensure_ascii=False, default=str)
        if len(flat) > limit:
            return flat[:limit] + " …"
        return _layout(value, 0)
    except (RecursionError, ValueError):
        return "(too deeply nested to show)"


def _layout(value: Any, level: int) -> str:
    flat = json.dumps(value, ensure_ascii=False, default=str)
    if not isinstance(value, dict | list) or not value or len(flat) + 2 * level <= 72:
        return flat
    pad, end = "  " * (level + 1), "  " * level
    if isinstance(value, dict):
        items = [
            f"{pad}{json.dumps(str(k), ensure_ascii=False)}: {_layout(v, level + 1)}"
            for k, v in value.items()
        ]
        return "{\n" + ",\n".join(items) + "\n" + end + "}"
    return "[\n" + ",\n".join(pad + _layout(v, level + 1) for v in value) + "\n" + end + "]"


# small widgets -----------------------------------------------------------------------


def chip(
    text: str,
    icon: str | None = None,
    *,
    accent: str | None = None,
    outline: bool = False,
    testid: str | None = None,
    tooltip: str | None = None,
) -> ui.element:
    """A small rounded label; `accent` colours it, `outline` draws only its border."""
    classes = (
        "aip-chip"
        + (" aip-chip-accent" if accent else "")
        + (" aip-chip-outline" if outline else "")
    )
    with ui.element("span").classes(classes) as element:
        if accent:
            element.style(f"--aip-accent: {accent}")
        if icon:
            ui.icon(icon)
        ui.label(text).classes("truncate")
        if tooltip:
            ui.tooltip(tooltip)
    if testid:
        element.props(f"data-testid={testid}")
    return element


def visibility_chip(visibility: Visibility) -> None:
    """Public or private, with a globe or a lock."""
    if visibility is Visibility.PUBLIC:
        chip("Public", "public", outline=True, tooltip="Every user of the platform can see it")
    else:
        chip("Private", "lock", outline=True, tooltip="Only the owner and admins can see it")


def section_title(text: str) -> None:
    """A small caps heading inside a card."""
    ui.label(text).classes("aip-section-title")


def pre_block(text: str, testid: str | None = None, wrap: bool = True) -> ui.label:
    """Monospaced text (JSON, commands), drawn as text so nothing in it is interpreted;
    `wrap=False` keeps lines whole and scrolls sideways (commands)."""
    block = ui.label(text).classes("aip-pre" + ("" if wrap else " aip-pre-nowrap"))
    if testid:
        block.props(f"data-testid={testid}")
    return block


def copy_button(text: str, what: str) -> None:
    """A small button that copies `text` to the clipboard."""

    def copy() -> None:
        ui.clipboard.write(text)
        ui.notify(f"{what} copied", position="top")

    ui.button(icon="content_copy", on_click=copy).props("flat round dense size=sm").tooltip(
        f"Copy {what.lower()}"
    )


async def markdown_view(text: str, testid: str = "markdown") -> None:
    """A user's Markdown, rendered and sanitized (off the event loop for long texts)."""
    if len(text) > 5_000:
        html = await asyncio.to_thread(render_markdown, text[:MAX_SOURCE_CHARS])
    else:
        html = render_markdown(text)
    # Sanitized server-side by an allow-list; DOMPurify in the browser is a second gate.
    ui.html(html, sanitize=True).classes("aip-markdown w-full").props(f"data-testid={testid}")


def simple_table(
    columns: list[str], rows: list[list[Any]], *, testid: str, dense: bool = True
) -> ui.table:
    """A read-only table of text cells (Quasar draws cell values as text); long tables
    scroll under a sticky header."""
    keys = [f"c{i}" for i in range(len(columns))]
    table = ui.table(
        columns=[
            {"name": k, "label": label, "field": k, "align": "left"}
            for k, label in zip(keys, columns, strict=True)
        ],
        rows=[
            {"_i": i, **{k: _cell(v) for k, v in zip(keys, row, strict=False)}}
            for i, row in enumerate(rows)
        ],
        row_key="_i",
    )
    table.classes("aip-table w-full" + (" aip-table-scroll" if len(rows) > 12 else "")).props(
        f"flat {'dense' if dense else ''} wrap-cells hide-bottom data-testid={testid}"
    )
    table.props(":pagination='{\"rowsPerPage\": 0}'")
    return table


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value if len(value) <= 300 else value[:299] + "…"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (dict, list)):
        return _cell(json.dumps(value, ensure_ascii=False, default=str))
    return str(value)


def not_found(kind: Kind, name: str) -> None:
    """The page body for a missing (or invisible) entry."""
    noun = "model" if kind == "models" else "dataset"
    with (
        ui.card()
        .classes("aip-card w-full items-center text-center py-12 px-6 gap-3")
        .props("data-testid=entry-not-found")
    ):
        ui.icon("search_off", size="3rem").classes("aip-muted")
        ui.label(f"No {noun} named “{name}”").classes("text-xl font-medium")
        ui.label("It may have been deleted, or it is private to another user.").classes("aip-muted")
        ui.button(
            f"Back to {kind}", icon="arrow_back", on_click=lambda: ui.navigate.to(list_path(kind))
        ).props("unelevated no-caps")
