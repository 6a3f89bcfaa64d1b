"""Generation parameter controls: only those the selected provider supports are drawn.

A parameter is either set here (sent with the conversation's settings) or left to the
model's default; an unset slider sits dimmed at a typical value and its box says
"default", so what is shown never pretends to be what the provider will use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from nicegui import ui

from aiplayground.chat.params import MAX_STOP_SEQUENCES

Kind = Literal["int", "float", "bool", "list"]


@dataclass(frozen=True)
class ParamSpec:
    """How one generation parameter is edited (its range, for numbers)."""

    name: str
    label: str
    kind: Kind
    low: float = 0
    high: float = 0
    step: float = 1
    typical: float | None = None

    @property
    def help(self) -> str:
        """What the parameter does, for its tooltip."""
        return HELP[self.name]


GROUPS: tuple[tuple[str, tuple[ParamSpec, ...]], ...] = (
    (
        "Length",
        (
            ParamSpec("max_new_tokens", "Max new tokens", "int", 1, 32_768),
            ParamSpec("stop", "Stop sequences", "list"),
        ),
    ),
    (
        "Sampling",
        (
            ParamSpec("do_sample", "Sample", "bool"),
            ParamSpec("temperature", "Temperature", "float", 0, 2, 0.05, 0.8),
            ParamSpec("top_k", "Top-k", "int", 0, 1000),
            ParamSpec("top_p", "Top-p", "float", 0.05, 1, 0.05, 0.95),
            ParamSpec("seed", "Seed", "int", 0, 2**32 - 1),
        ),
    ),
    (
        "Penalties",
        (
            ParamSpec("repetition_penalty", "Repetition penalty", "float", 0.5, 2, 0.05, 1.0),
            ParamSpec("presence_penalty", "Presence penalty", "float", -2, 2, 0.1, 0.0),
            ParamSpec("frequency_penalty", "Frequency penalty", "float", -2, 2, 0.1, 0.0),
        ),
    ),
    (
        "Search",
        (
            ParamSpec("num_beams", "Beams", "int", 1, 16),
            ParamSpec("num_beam_groups", "Beam groups", "int", 1, 16),
            ParamSpec("diversity_penalty", "Diversity penalty", "float", 0, 2, 0.1, 0.5),
            ParamSpec("penalty_alpha", "Penalty alpha", "float", 0, 1, 0.05, 0.6),
        ),
    ),
)
HELP = {
    "max_new_tokens": "The longest answer, in tokens.",
    "stop": f"The answer ends before any of these strings (at most {MAX_STOP_SEQUENCES}; "
    "press Enter after each).",
    "do_sample": "Off: always take the likeliest token (greedy or beam search).",
    "temperature": "Higher is more varied; 0 is greedy.",
    "top_k": "Sample among the k likeliest tokens; 0 keeps all.",
    "top_p": "Sample among the likeliest tokens that together hold this much probability.",
    "seed": "The same seed and settings give the same answer.",
    "repetition_penalty": "Above 1 discourages repeating tokens; 1 is none.",
    "presence_penalty": "Positive values favour new topics (OpenAI style).",
    "frequency_penalty": "Positive values discourage frequent tokens (OpenAI style).",
    "num_beams": "Beam search width; 1 is no beam search.",
    "num_beam_groups": "Diverse beam search: beams split in groups that avoid each other's "
    "choices.",
    "diversity_penalty": "How strongly beam groups avoid each other.",
    "penalty_alpha": "Contrastive search: the weight of the degeneration penalty (with top-k > 1).",
}
SPECS = {spec.name: spec for _, specs in GROUPS for spec in specs}


class ParamControls:
    """The controls of one provider's parameters; `values` holds what the user set."""

    def __init__(self, on_change: Callable[[], None]) -> None:
        self.on_change = on_change
        self.values: dict[str, Any] = {}
        self.container = ui.column().classes("w-full gap-3")
        self._setters: dict[str, Callable[[Any], None]] = {}

    def draw(
        self, supported: set[str], defaults: dict[str, Any], values: dict[str, Any]
    ) -> list[str]:
        """Redraw for a provider; returns the names in `values` it does not support."""
        self.values = {k: v for k, v in values.items() if k in supported and v is not None}
        self.container.clear()
        self._setters.clear()
        with self.container:
            for title, specs in GROUPS:
                shown = [s for s in specs if s.name in supported]
                if not shown:
                    continue
                ui.label(title).classes("aip-role mt-1")
                for spec in shown:
                    self._row(spec, defaults.get(spec.name))
            if not supported:
                ui.label("This model takes no generation settings.").classes("text-sm aip-muted")
        return sorted(set(values) - supported)

    def reset(self, name: str) -> None:
        """Forget a set value (the model's default applies again)."""
        setter = self._setters.get(name)
        if setter is not None:
            setter(None)

    # one parameter -----------------------------------------------------------------------

    def _row(self, spec: ParamSpec, default: Any) -> None:
        value = self.values.get(spec.name)
        hint = "default" if default is None else f"default {_fmt(default)}"
        with ui.column().classes("aip-param w-full").props(f"data-testid=param-{spec.name}") as row:
            with ui.row().classes("aip-param-head w-full no-wrap"):
                ui.label(spec.label)
                ui.icon("info_outline", size="0.95rem").classes("aip-muted cursor-help").tooltip(
                    spec.help
                )
                state = ui.label("").classes("aip-param-state")
                reset = ui.button(icon="restart_alt").props("flat round dense size=xs")
                reset.tooltip("Back to the model's default")
            syncing = False
            widgets: list[Any] = []

            def show(current: Any) -> None:
                row.classes(
                    add="aip-param-unset" if current is None else "",
                    remove="" if current is None else "aip-param-unset",
                )
                # Full-width fields say it in their placeholder; sliders and toggles here.
                shown = current is None and spec.kind in ("float", "bool")
                state.text = hint if shown else ""
                reset.set_visibility(current is not None)

            def set_value(current: Any, source: Any = None) -> None:
                nonlocal syncing
                if syncing:
                    return
                current = _clean(spec, current)
                if current is None:
                    self.values.pop(spec.name, None)
                else:
                    self.values[spec.name] = current
                syncing = True
                try:
                    for widget in widgets:
                        if widget is not source:
                            widget.value = _widget_value(spec, widget, current, default)
                finally:
                    syncing = False
                show(current)
                self.on_change()

            reset.on_click(lambda: set_value(None))
            self._setters[spec.name] = set_value
            widgets += _controls(spec, value, default, hint, set_value)
            show(value)


def _controls(
    spec: ParamSpec, value: Any, default: Any, hint: str, set_value: Callable[[Any, Any], None]
) -> list[Any]:
    testid = f"param-{spec.name}-input"
    if spec.kind == "bool":
        options = {"default": "Default", "on": "On", "off": "Off"}
        current = {None: "default", True: "on", False: "off"}[value]
        toggle = ui.toggle(options, value=current).props(
            f"dense no-caps unelevated spread toggle-color=primary data-testid={testid}"
        )
        toggle.classes("w-full")
        toggle.on_value_change(lambda e: set_value({"on": True, "off": False}.get(e.value), toggle))
        return [toggle]
    if spec.kind == "list":
        chips = ui.input_chips(value=list(value or []), new_value_mode="add-unique")
        chips.props(f'dense outlined clearable placeholder="{hint}" data-testid={testid}')
        chips.classes("w-full")
        chips.on_value_change(lambda e: set_value(e.value, chips))
        return [chips]
    widgets: list[Any] = []
    with ui.row().classes("w-full items-center no-wrap gap-3"):
        if spec.kind == "float":
            start = value if value is not None else _slider_rest(spec, default)
            slider = ui.slider(min=spec.low, max=spec.high, step=spec.step, value=start)
            slider.classes("grow").props("dense")
            slider.on_value_change(lambda e: set_value(e.value, slider))
            widgets.append(slider)
        number = ui.number(
            value=value,
            min=spec.low,
            max=spec.high,
            step=spec.step,
            placeholder="—" if spec.kind == "float" else hint,
        )
        number.props(f"dense outlined hide-bottom-space data-testid={testid}")
        number.classes("w-24" if spec.kind == "float" else "w-full")
        number.on_value_change(lambda e: set_value(e.value, number))
        widgets.append(number)
    return widgets


def _slider_rest(spec: ParamSpec, default: Any) -> float:
    if isinstance(default, int | float):
        return float(default)
    return spec.typical if spec.typical is not None else spec.low


def _widget_value(spec: ParamSpec, widget: Any, value: Any, default: Any) -> Any:
    if spec.kind == "bool":
        return {None: "default", True: "on", False: "off"}[value]
    if isinstance(widget, ui.slider):
        return value if value is not None else _slider_rest(spec, default)
    return value


def _clean(spec: ParamSpec, value: Any) -> Any:
    """The value to store: None when empty, numbers clamped to the allowed range."""
    if value is None or value == "" or value == []:
        return None
    if spec.kind == "list":
        return [str(v)[:200] for v in value if str(v)][:MAX_STOP_SEQUENCES] or None
    if spec.kind == "bool":
        return bool(value)
    number = min(max(float(value), spec.low), spec.high)
    return int(number) if spec.kind == "int" else round(number, 4)


def _fmt(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(repr(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
