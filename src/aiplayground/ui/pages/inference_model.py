"""The model, version and protocol a request goes to, and what the page knows of its inputs.

Models are the caller's servable catalog entries: formats the platform serves itself, and
remote KServe endpoints (forwarded). The version defaults to the `production` alias, else the
latest; KServe v1 has no versions in its route, so v1 always calls the default one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from nicegui import ui
from pydantic import ValidationError

from aiplayground.catalog.models import DEFAULT_ALIAS
from aiplayground.catalog.schemas import (
    ModelFormat,
    ModelInfo,
    ModelVersionInfo,
    Objective,
    TensorSpec,
)
from aiplayground.errors import PlaygroundError
from aiplayground.ui.pages.catalog_common import (
    MODEL_FORMATS,
    OBJECTIVES,
    PROTOCOLS,
    chip,
    detail_path,
    host_of,
)
from aiplayground.ui.pages.inference_request import (
    WIRES,
    Wire,
    default_wire,
    offers_probabilities,
    prefilled,
    servable,
)
from aiplayground.ui.shell import PageContext, show_error

MAX_MODELS = 200  # newest first; older ones open with ?model=NAME
REMOTE_METADATA_S = 5.0
STATE_CHIPS = {
    "ready": ("Loaded", "check_circle", "#059669"),
    "loading": ("Loading", "hourglass_top", "#d97706"),
    "failed": ("Failed to load", "error", "#dc2626"),
    "unloaded": ("Not loaded yet", "radio_button_unchecked", "#64748b"),
}


def option_label(info: ModelInfo) -> str:
    """A model as the selector lists it: name, format, and where it is served."""
    if info.endpoint is not None:
        return f"{info.name} — {PROTOCOLS[info.endpoint.protocol]} at {host_of(info.endpoint.url)}"
    return f"{info.name} — {MODEL_FORMATS.get(info.format, info.format.value)}, served here"


class ModelPicker:
    """Model, version and protocol selectors, and a strip of facts about the model."""

    def __init__(
        self,
        ctx: PageContext,
        on_change: Callable[[], Awaitable[None]],
        on_wire: Callable[[Wire], None],
    ) -> None:
        self.ctx = ctx
        self.on_change = on_change
        self.on_wire = on_wire
        self.models: dict[str, ModelInfo] = {}
        self.info: ModelInfo | None = None
        self.version: ModelVersionInfo | None = None
        self.specs: list[TensorSpec] = []
        self.wire: Wire = "v2"
        self.quiet = False
        self.busy = False  # loading a version: the body is not ready yet

    @property
    def name(self) -> str:
        """The chosen model's name."""
        return self.info.name if self.info is not None else ""

    @property
    def classifier(self) -> bool:
        """True when the catalog says the model classifies."""
        return self.info is not None and self.info.objective is Objective.CLASSIFICATION

    @property
    def probabilities_offered(self) -> bool:
        """True when the model can be asked for class probabilities."""
        return self.info is not None and offers_probabilities(self.info)

    def prefilled(self) -> Any:
        """The body to start from: the version's example, else zeros of its signature."""
        return prefilled(self.version, self.specs, self.wire)

    # drawing -----------------------------------------------------------------------------

    def load(self) -> bool:
        """Find the servable models and draw the selectors; False (and why) when none."""
        try:
            page = self.ctx.platform.models.search(self.ctx.current_principal(), limit=MAX_MODELS)
        except PlaygroundError as exc:
            show_error(exc)
            return False
        self.models = {m.name: m for m in page.items if servable(m)}
        wanted = self.ctx.request.query_params.get("model", "")
        if wanted and wanted not in self.models:
            try:
                info = self.ctx.platform.models.get(self.ctx.principal, wanted)
                if servable(info):
                    self.models = {info.name: info, **self.models}
                else:
                    ui.notify(
                        f"{wanted} is not served over KServe v1/v2; language models answer "
                        "on the Chat page.",
                        position="top",
                    )
            except PlaygroundError as exc:
                show_error(exc)
        if not self.models:
            _no_models()
            return False
        with ui.card().classes("aip-card w-full p-4 gap-3"):
            with ui.row().classes("w-full items-center gap-3"):
                options = {name: option_label(info) for name, info in self.models.items()}
                self.model_select = ui.select(
                    options, label="Model", with_input=True, on_change=self._model_picked
                ).props("outlined dense options-dense data-testid=model-select")
                self.model_select.classes("grow min-w-[18rem]")
                self.version_select = ui.select(
                    {}, label="Version", on_change=self._version_picked
                ).props("outlined dense options-dense data-testid=version-select")
                self.version_select.classes("w-52")
                self.wire_toggle = ui.toggle(WIRES, value=self.wire, on_change=self._wire_picked)
                self.wire_toggle.props("no-caps unelevated dense data-testid=protocol-toggle")
                self.wire_toggle.classes("aip-toggle")
            self.strip = (
                ui.row().classes("w-full items-center gap-2").props("data-testid=model-facts")
            )
        return True

    def loaded(self) -> bool:
        """False when the chosen version is not loaded yet (remote models always are)."""
        if self.info is None or self.version is None:
            return True
        return self.ctx.platform.inference.state(self.info.name, self.version.version) == "ready"

    def draw_strip(self) -> None:
        """Chips: objective, format, where it is served, load state; a link to the catalog."""
        info = self.info
        self.strip.clear()
        if info is None:
            return
        with self.strip:
            label, icon, accent = OBJECTIVES[info.objective]
            chip(label, icon, accent=accent)
            if info.endpoint is not None:
                chip(MODEL_FORMATS[ModelFormat.REMOTE], "cloud", outline=True)
                chip(PROTOCOLS[info.endpoint.protocol], "swap_horiz", outline=True)
                chip(host_of(info.endpoint.url), "dns", outline=True, testid="model-host")
            else:
                chip(MODEL_FORMATS.get(info.format, info.format.value), "memory", outline=True)
                chip("KServe v1 · v2, served here", "swap_horiz", outline=True)
                if self.version is not None:
                    state = self.ctx.platform.inference.state(info.name, self.version.version)
                    text, state_icon, color = STATE_CHIPS.get(state, STATE_CHIPS["unloaded"])
                    chip(text, state_icon, accent=color, testid="model-state")
            if self.specs:
                shapes = ", ".join(f"{s.name} {s.datatype} {s.shape}" for s in self.specs[:3])
                chip(shapes, "input", outline=True, tooltip="The inputs the model expects")
            ui.space()
            ui.link("Open in the catalog", detail_path("models", info.name)).classes(
                "text-sm"
            ).props("data-testid=model-link")

    # choosing ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Choose what the URL names, else the newest model."""
        query = self.ctx.request.query_params
        name = query.get("model", "")
        version = query.get("version", "")
        wire: Wire | None = {"v1": "v1", "v2": "v2"}.get(query.get("protocol", ""))  # type: ignore[assignment]
        chosen = await self.choose(
            name if name in self.models else next(iter(self.models)),
            int(version) if version.isdigit() else None,
            wire,
        )
        if not chosen:
            self.info = None

    async def choose(self, name: str, version: int | None, wire: Wire | None) -> bool:
        """Select a model (and a version, and a protocol); False if it is gone."""
        try:
            info = self.ctx.platform.models.get(self.ctx.current_principal(), name)
        except PlaygroundError as exc:
            show_error(exc)
            return False
        self.models[name] = info
        self.info = info
        self.wire = wire or default_wire(info)
        self.quiet = True
        try:
            self.model_select.set_options(
                {n: option_label(i) for n, i in self.models.items()}, value=name
            )
            self.wire_toggle.value = self.wire
            self.version_select.set_options(
                {v: _version_label(info, v) for v in sorted(info.versions, reverse=True)},
                value=_default_version(info) if version not in info.versions else version,
            )
        finally:
            self.quiet = False
        return await self._load_version()

    async def _load_version(self) -> bool:
        info = self.info
        assert info is not None
        self.version_select.set_visibility(info.endpoint is None)
        self.version_select.set_enabled(self.wire == "v2")
        self.version = None
        number = self.version_select.value
        self.busy = True
        try:
            if info.endpoint is None and isinstance(number, int):
                principal = self.ctx.current_principal()
                self.version = self.ctx.platform.models.get_version(principal, info.name, number)
            self.specs = await self._input_specs()
        except PlaygroundError as exc:
            show_error(exc)
            return False
        finally:
            self.busy = False
        self.draw_strip()
        await self.on_change()
        return True

    async def _input_specs(self) -> list[TensorSpec]:
        """The signature's inputs, else what the model itself says (loading it if needed)."""
        version, info = self.version, self.info
        assert info is not None
        if version is not None and version.signature is not None and version.signature.inputs:
            return list(version.signature.inputs)
        if version is not None and version.example:
            return []
        principal = self.ctx.current_principal()
        service = self.ctx.platform.inference
        number = version.version if version is not None else None
        self.strip.clear()
        with self.strip:
            chip("Reading the model's inputs…", "hourglass_top", accent="#d97706")
        try:
            if version is not None and not await service.ready(principal, info.name, number):
                return []
            metadata = await asyncio.wait_for(
                service.metadata(principal, info.name, number), REMOTE_METADATA_S
            )
            return [TensorSpec.model_validate(raw) for raw in metadata.get("inputs", [])]
        except (TimeoutError, PlaygroundError, ValidationError) as exc:
            # The page still works without them: the user writes the inputs.
            reason = exc.message if isinstance(exc, PlaygroundError) else "no answer in time"
            ui.notify(f"Could not read the model's inputs: {reason}", position="top")
            return []

    def set_wire(self, wire: Wire) -> None:
        """Switch the protocol without redrawing the body."""
        self.quiet = True
        try:
            self.wire_toggle.value = wire
        finally:
            self.quiet = False
        self.wire = wire
        self.version_select.set_enabled(wire == "v2")

    # The handlers are plain functions that return the work to await: NiceGUI calls them at
    # once (so `quiet` still holds for changes made here) and awaits what they return.

    def _model_picked(self, e: Any) -> Awaitable[bool] | None:
        if self.quiet or e.value not in self.models or e.value == self.name:
            return None
        return self.choose(e.value, None, None)

    def _version_picked(self, e: Any) -> Awaitable[bool] | None:
        if self.quiet or self.info is None:
            return None
        return self._load_version()

    def _wire_picked(self, e: Any) -> Awaitable[bool] | None:
        if self.quiet or self.info is None or e.value not in WIRES or e.value == self.wire:
            return None
        previous, self.wire = self.wire, e.value
        self.version_select.set_enabled(self.wire == "v2")
        default = _default_version(self.info)
        if self.wire == "v1" and self.version_select.value != default:
            self.quiet = True  # v1 calls the default version: load it, with a fresh body
            try:
                self.version_select.value = default
            finally:
                self.quiet = False
            return self._load_version()
        self.on_wire(previous)
        return None


def _default_version(info: ModelInfo) -> int | None:
    return info.aliases.get(DEFAULT_ALIAS, info.latest_version)


def _version_label(info: ModelInfo, number: int) -> str:
    aliases = [alias for alias, n in info.aliases.items() if n == number]
    if number == info.latest_version:
        aliases.append("latest")
    return f"v{number}" + (f" · {', '.join(aliases)}" if aliases else "")


def _no_models() -> None:
    with (
        ui.card()
        .classes("aip-card w-full items-center text-center py-12 px-6 gap-3")
        .props("data-testid=empty-state")
    ):
        ui.icon("bolt", size="3rem").classes("text-primary opacity-80")
        ui.label("No model to call yet").classes("text-xl font-medium")
        ui.label(
            "Upload a scikit-learn (skops), XGBoost, LightGBM, ONNX, PyTorch, Keras or Hugging "
            "Face model to the catalog, or register a remote KServe endpoint: it appears here, "
            "ready to take events as JSON, CSV or Parquet."
        ).classes("aip-muted max-w-xl")
        ui.button(
            "Open the catalog", icon="inventory_2", on_click=lambda: ui.navigate.to("/catalog")
        ).props("unelevated no-caps")
