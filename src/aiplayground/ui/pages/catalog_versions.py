"""One version of a model or dataset: signature, example, metrics, lineage, schema, preview,
aliases and files. Every value comes from a user or a user's file and is drawn as text."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nicegui import ui

from aiplayground.catalog.schemas import DatasetVersionInfo, ModelVersionInfo
from aiplayground.ui.pages.catalog_common import (
    chip,
    copy_button,
    detail_path,
    human_size,
    pre_block,
    pretty_json,
    section_title,
    simple_table,
)
from aiplayground.ui.pages.catalog_detail import files_list
from aiplayground.ui.shell import when

STATUS_COLORS = {"ready": "#059669", "failed": "#dc2626"}


def _version_heading(
    number: int,
    status: str,
    created: Any,
    aliases: list[str],
    extra: Callable[[], None] | None = None,
) -> None:
    with ui.row().classes("w-full items-center gap-2"):
        ui.label(f"Version {number}").classes("text-lg font-semibold").props(
            "data-testid=version-number"
        )
        chip(status, accent=STATUS_COLORS.get(status, "#475569"), testid="version-status")
        for alias in aliases:
            chip(alias, "bookmark", accent="#3559e0", testid="version-alias")
        if extra is not None:
            extra()
        ui.space()
        ui.label(f"added {when(created)}").classes("text-sm aip-muted")


def model_version_panel(
    version: ModelVersionInfo, alias_editor: Callable[[], None] | None = None
) -> None:
    """Everything known about one model version."""
    with ui.column().classes("w-full gap-5").props("data-testid=version-panel"):
        _version_heading(
            version.version, version.status, version.created_at, version.aliases, alias_editor
        )
        if version.description:
            ui.label(version.description).classes("aip-muted -mt-3").props(
                "data-testid=version-note"
            )
        if version.signature is not None and (
            version.signature.inputs or version.signature.outputs
        ):
            with ui.column().classes("w-full gap-2"):
                section_title("Signature")
                rows = [
                    [direction, spec.name, spec.datatype, _shape(spec.shape)]
                    for direction, specs in (
                        ("input", version.signature.inputs),
                        ("output", version.signature.outputs),
                    )
                    for spec in specs
                ]
                simple_table(["", "Name", "Datatype", "Shape"], rows, testid="version-signature")
        if version.metrics:
            with ui.column().classes("w-full gap-2"):
                section_title("Metrics")
                with ui.row().classes("gap-3").props("data-testid=version-metrics"):
                    for name, value in version.metrics.items():
                        with ui.column().classes("aip-metric gap-0 min-w-[8rem]"):
                            ui.label(name).classes("text-xs aip-muted")
                            ui.label(f"{value:.4g}").classes("text-xl font-semibold")
        if version.example is not None:
            with ui.column().classes("w-full gap-2"):
                with ui.row().classes("w-full items-center"):
                    section_title("Example request")
                    ui.space()
                    copy_button(pretty_json(version.example), "Example")
                pre_block(pretty_json(version.example), testid="version-example")
        if version.lineage is not None:
            _lineage(version)
        if version.params:
            with ui.column().classes("w-full gap-2"):
                section_title("Parameters")
                simple_table(
                    ["Parameter", "Value"],
                    [[k, v] for k, v in version.params.items()],
                    testid="version-params",
                )
        with ui.column().classes("w-full gap-2"):
            section_title(f"Files ({len(version.files)})")
            files_list("models", version.model, version.version, version.files)


def _lineage(version: ModelVersionInfo) -> None:
    lineage = version.lineage
    assert lineage is not None
    with ui.column().classes("w-full gap-2").props("data-testid=version-lineage"):
        section_title("Lineage")
        with ui.row().classes("items-center gap-2 text-sm"):
            if lineage.dataset:
                ui.icon("dataset", size="1.1rem").classes("aip-muted")
                ui.label("Trained on")
                suffix = f" v{lineage.dataset_version}" if lineage.dataset_version else ""
                ui.link(f"{lineage.dataset}{suffix}", detail_path("datasets", lineage.dataset))
            if lineage.job_id:
                ui.icon("model_training", size="1.1rem").classes("aip-muted ml-2")
                ui.label("by job")
                ui.label(lineage.job_id).classes("aip-mono")
            if not lineage.dataset and not lineage.job_id:
                ui.label("Not recorded.").classes("aip-muted")


def _shape(shape: list[int]) -> str:
    return "[" + ", ".join("?" if n < 0 else str(n) for n in shape) + "]"


def dataset_version_panel(version: DatasetVersionInfo) -> None:
    """The schema, the first rows and the files of one dataset version."""
    schema = version.schema_ if isinstance(version.schema_, dict) else {}
    with ui.column().classes("w-full gap-5").props("data-testid=version-panel"):
        _version_heading(version.version, version.status, version.created_at, [])
        if version.description:
            ui.label(version.description).classes("aip-muted -mt-3").props(
                "data-testid=version-note"
            )
        with ui.column().classes("w-full gap-2").props("data-testid=dataset-schema"):
            section_title("Schema")
            _schema(schema)
        preview = version.preview if isinstance(version.preview, dict) else None
        if preview and preview.get("columns"):
            with ui.column().classes("w-full gap-2"):
                rows = preview.get("rows") or []
                section_title(f"Preview (first {len(rows)} rows)")
                simple_table(
                    [str(c) for c in preview["columns"]],
                    [list(r) for r in rows if isinstance(r, list)],
                    testid="dataset-preview",
                )
        with ui.column().classes("w-full gap-2"):
            section_title(f"Files ({len(version.files)})")
            files_list("datasets", version.dataset, version.version, version.files)


def _schema(schema: dict[str, Any]) -> None:
    summary = []
    if isinstance(schema.get("rows"), int):
        summary.append(f"{schema['rows']:,} rows")
    columns = schema.get("columns")
    if isinstance(columns, list):
        summary.append(f"{len(columns)} columns")
    for key in ("encoding", "delimiter", "file"):
        if isinstance(schema.get(key), str):
            value = repr(schema[key]) if key == "delimiter" else schema[key]
            summary.append(f"{key} {value}")
    if isinstance(schema.get("count"), int):
        summary.append(f"{schema['count']} files")
    if isinstance(schema.get("bytes"), int):
        summary.append(human_size(schema["bytes"]))
    if summary:
        ui.label(" · ".join(summary)).classes("text-sm aip-muted").props(
            "data-testid=schema-summary"
        )
    if isinstance(schema.get("note"), str):
        ui.label(schema["note"]).classes("text-sm aip-muted")
    if isinstance(columns, list) and columns:
        simple_table(
            ["Column", "Type"],
            [[_text(c, "name"), _text(c, "type")] for c in columns],
            testid="schema-columns",
        )
    trees = schema.get("trees")
    if isinstance(trees, list):
        _trees(trees)
    if not (isinstance(columns, list) or isinstance(trees, list)) and isinstance(
        schema.get("files"), list
    ):
        simple_table(
            ["File", "Size"],
            [
                [_text(f, "name"), human_size(f["size"]) if isinstance(f.get("size"), int) else ""]
                for f in schema["files"]
                if isinstance(f, dict)
            ],
            testid="schema-files",
        )


def _trees(trees: list[Any]) -> None:
    if not trees:
        ui.label("No trees in this file.").classes("text-sm aip-muted")
    for index, tree in enumerate(t for t in trees if isinstance(t, dict)):
        entries = tree.get("entries")
        count = tree.get("branch_count")
        caption = " · ".join(
            part
            for part in (
                f"{entries:,} entries" if isinstance(entries, int) else "",
                f"{count} branches" if isinstance(count, int) else "",
            )
            if part
        )
        with (
            ui.expansion(value=index == 0)
            .classes("w-full aip-metric")
            .props("dense data-testid=schema-tree") as expansion
        ):
            with expansion.add_slot("header"), ui.row().classes("items-center gap-2 w-full"):
                ui.icon("account_tree", size="1.1rem").classes("aip-muted")
                ui.label(_text(tree, "name")).classes("aip-mono font-medium")
                ui.label(caption).classes("text-sm aip-muted")
            branches = [b for b in tree.get("branches") or [] if isinstance(b, dict)]
            simple_table(
                ["Branch", "Type", "Jagged"],
                [
                    [_text(b, "name"), _text(b, "type"), "yes" if b.get("jagged") else ""]
                    for b in branches
                ],
                testid="schema-branches",
            )
            if isinstance(count, int) and count > len(branches):
                ui.label(f"… and {count - len(branches)} more").classes("text-xs aip-muted")


def _text(item: Any, key: str) -> str:
    value = item.get(key) if isinstance(item, dict) else None
    return "" if value is None else str(value)
