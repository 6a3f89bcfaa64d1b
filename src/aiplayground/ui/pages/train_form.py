"""A form drawn from a recipe's JSON schema: numbers, selects for enums, switches for
booleans, text for strings, comma lists for arrays of scalars, JSON for anything else.

Each field starts at the schema's default; an optional field ("anyOf [T, null]") left
empty is sent as null. `set_error` puts the service's message under the field it names.
"""

from __future__ import annotations

from typing import Any

import orjson
from nicegui import ui

SCALARS = ("string", "integer", "number", "boolean")


def _unwrap(spec: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The non-null branch of an `anyOf [T, null]`, and whether null is allowed."""
    branches = spec.get("anyOf")
    if not isinstance(branches, list):
        return spec, False
    others = [b for b in branches if b.get("type") != "null"]
    nullable = len(others) < len(branches)
    if len(others) == 1:
        return {**others[0], **{k: v for k, v in spec.items() if k != "anyOf"}}, nullable
    return spec, nullable


def _bounds(spec: dict[str, Any]) -> str:
    low = spec.get("minimum", spec.get("exclusiveMinimum"))
    high = spec.get("maximum", spec.get("exclusiveMaximum"))
    if low is not None and high is not None:
        return f" ({low:g} to {high:g})"
    if low is not None:
        return f" (≥ {low:g})" if "minimum" in spec else f" (> {low:g})"
    if high is not None:
        return f" (≤ {high:g})"
    return ""


class Field:
    """One parameter: its widget and how its value is read back."""

    def __init__(self, name: str, spec: dict[str, Any], required: bool) -> None:
        self.name = name
        self.spec, self.nullable = _unwrap(spec)
        self.required = required
        kind = self.spec.get("type")
        items = self.spec.get("items", {})
        self.kind = (
            "enum"
            if "enum" in self.spec
            else "list"
            if kind == "array" and items.get("type") in SCALARS
            else kind
            if kind in SCALARS
            else "json"
        )
        title = str(self.spec.get("title") or name) + (" *" if required else "")
        hint = str(self.spec.get("description", "")) + (
            _bounds(self.spec) if self.kind in ("integer", "number") else ""
        )
        default = self.spec.get("default")
        props = f"outlined dense data-testid=param-{name}"
        self.widget: Any
        if self.kind == "enum":
            options = [str(v) for v in self.spec["enum"]]
            self.widget = ui.select(options, value=default, label=title).props(props)
        elif self.kind == "boolean":
            self.widget = ui.switch(title, value=bool(default)).props(f"data-testid=param-{name}")
        elif self.kind in ("integer", "number"):
            self.widget = ui.number(
                title,
                value=default,
                precision=0 if self.kind == "integer" else None,
                format="%d" if self.kind == "integer" else None,
            ).props(props + (" clearable" if self.nullable else ""))
        elif self.kind == "list":
            shown = ", ".join(str(v) for v in default) if isinstance(default, list) else ""
            self.widget = ui.input(title, value=shown).props(props)
            hint = (hint + " Comma-separated.").strip()
        elif self.kind == "string":
            self.widget = ui.input(title, value=default or "").props(props)
        else:
            shown = "" if default is None else orjson.dumps(default).decode()
            self.widget = ui.input(title, value=shown).props(props + " class=aip-mono")
            hint = (hint + " JSON.").strip()
        self.widget.classes("w-full")
        if hint and self.kind != "boolean":
            self.widget.props["hint"] = hint
        elif hint:
            self.widget.tooltip(hint)
        self.widget.on_value_change(lambda _: self.clear_error())

    def value(self) -> tuple[bool, Any]:
        """(whether to send it, the value); raises ValueError on text that does not parse."""
        raw = self.widget.value
        if self.kind == "boolean":
            return True, bool(raw)
        if self.kind == "enum":
            return raw is not None, raw
        if self.kind in ("integer", "number"):
            if raw is None or raw == "":
                return self.nullable or self.required, None
            return True, int(raw) if self.kind == "integer" else float(raw)
        text = str(raw or "").strip()
        if not text:
            if self.kind == "string" and not self.required:
                return False, None
            return self.nullable or self.required, None if self.nullable else ""
        if self.kind == "list":
            parts = [p.strip() for p in text.split(",") if p.strip()]
            cast = {"integer": int, "number": float}.get(self.spec["items"].get("type"), str)
            return True, [cast(p) for p in parts]
        if self.kind == "json":
            return True, orjson.loads(text)
        return True, text

    def set_error(self, message: str) -> None:
        if self.kind == "boolean":
            ui.notify(f"{self.name}: {message}", type="negative", position="top")
            return
        self.widget.props["error"] = True
        self.widget.props["error-message"] = message
        self.widget.update()

    def clear_error(self) -> None:
        if self.widget.props.get("error"):
            self.widget.props["error"] = False
            self.widget.update()


class SchemaForm:
    """The parameter fields of one recipe, in the schema's order."""

    def __init__(self, schema: dict[str, Any]) -> None:
        required = set(schema.get("required", []))
        self.fields: dict[str, Field] = {}
        with ui.element("div").classes("aip-train-params w-full"):
            for name, spec in schema.get("properties", {}).items():
                self.fields[name] = Field(name, spec, name in required)

    def values(self) -> dict[str, Any]:
        """The parameters to send; a field that does not parse gets an error (ValueError)."""
        out: dict[str, Any] = {}
        bad = False
        for name, field in self.fields.items():
            try:
                send, value = field.value()
            except (ValueError, orjson.JSONDecodeError) as exc:
                field.set_error(f"cannot read this value: {exc}")
                bad = True
                continue
            if send:
                out[name] = value
        if bad:
            raise ValueError("some parameters do not parse")
        return out

    def set_error(self, path: list[str], message: str) -> bool:
        """Show `message` under the field at `path` (after 'params'); False if unknown."""
        if path and path[0] in self.fields:
            self.fields[path[0]].set_error(message)
            return True
        return False
