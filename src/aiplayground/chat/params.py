"""Generation settings: one vocabulary for every provider, merged from layered defaults."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from aiplayground.errors import InvalidInput

MAX_STOP_SEQUENCES = 8


class GenerationParams(BaseModel):
    """How to generate; None means "not set here" (a lower layer or the provider decides)."""

    model_config = ConfigDict(extra="forbid")

    max_new_tokens: int | None = Field(None, ge=1, le=131_072, description="Tokens to generate.")
    temperature: float | None = Field(None, ge=0.0, le=2.0, description="0: greedy.")
    top_k: int | None = Field(None, ge=0, le=1000, description="0: no top-k cut.")
    top_p: float | None = Field(None, gt=0.0, le=1.0, description="Nucleus sampling mass.")
    do_sample: bool | None = Field(None, description="False: greedy (or beam) decoding.")
    repetition_penalty: float | None = Field(None, gt=0.0, le=10.0, description="1: none.")
    presence_penalty: float | None = Field(None, ge=-2.0, le=2.0, description="OpenAI-style.")
    frequency_penalty: float | None = Field(None, ge=-2.0, le=2.0, description="OpenAI-style.")
    stop: list[str] | None = Field(None, description="Stop before any of these strings.")
    seed: int | None = Field(None, ge=0, le=2**32 - 1, description="Reproducible sampling.")
    num_beams: int | None = Field(None, ge=1, le=16, description="Beam search width.")
    num_beam_groups: int | None = Field(None, ge=1, le=16, description="Diverse beam groups.")
    diversity_penalty: float | None = Field(None, ge=0.0, le=10.0, description="Between groups.")
    penalty_alpha: float | None = Field(None, ge=0.0, le=1.0, description="Contrastive search.")

    @field_validator("stop", mode="before")
    @classmethod
    def _stop_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [value]
        return value

    @field_validator("stop")
    @classmethod
    def _stop_bounds(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if len(value) > MAX_STOP_SEQUENCES:
            raise ValueError(f"at most {MAX_STOP_SEQUENCES} stop sequences")
        if any(not s or len(s) > 200 for s in value):
            raise ValueError("stop sequences are 1-200 characters")
        return value

    def given(self) -> set[str]:
        """The names of the parameters set in this layer."""
        return {name for name, value in self if value is not None}

    def merged(self, *layers: GenerationParams) -> GenerationParams:
        """These parameters with every later layer's set values on top."""
        values = self.model_dump(exclude_none=True)
        for layer in layers:
            values.update(layer.model_dump(exclude_none=True))
        return GenerationParams(**values)


ALL_PARAMS = frozenset(GenerationParams.model_fields)


def parse_params(raw: Mapping[str, Any] | None, source: str) -> GenerationParams:
    """Validate a mapping of generation parameters; InvalidInput names the bad one."""
    if not raw:
        return GenerationParams()
    unknown = sorted(set(raw) - ALL_PARAMS)
    if unknown:
        raise InvalidInput(
            f"unknown generation parameter {unknown[0]!r} in {source}; known: "
            f"{', '.join(sorted(ALL_PARAMS))}",
            details={"param": unknown[0]},
        )
    try:
        return GenerationParams(**raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else ""
        raise InvalidInput(
            f"invalid generation parameter {name!r} in {source}: {first['msg']}",
            details={"param": name},
        ) from exc


def require_supported(
    params: GenerationParams, supported: Iterable[str], provider: str, source: str = "the request"
) -> None:
    """Refuse (400, naming it) a parameter the provider cannot honour, instead of ignoring it."""
    allowed = set(supported)
    unsupported = sorted(params.given() - allowed)
    if unsupported:
        name = unsupported[0]
        raise InvalidInput(
            f"the {provider} provider does not support the generation parameter {name!r} "
            f"(set in {source}); it supports: {', '.join(sorted(allowed))}",
            details={"param": name},
        )
