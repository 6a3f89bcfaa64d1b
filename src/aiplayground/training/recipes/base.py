"""What every recipe is: a parameter schema, a description and a `run` that returns a result.

Recipe parameters never reach a shell (jobs start without one) and paths in them are
confined to the job's folder; the `SafeText` and `JobPath` types refuse anything else at
submission, so a user sees a 422 naming the field instead of a failed job.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from aiplayground.catalog.schemas import ModelFormat, Objective, Signature

if TYPE_CHECKING:
    from aiplayground.training.context import JobContext

_SHELL_OR_CONTROL = re.compile(r"[\x00-\x1f\x7f;&|`$<>\\]")
_JOB_PATH = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*(/[A-Za-z0-9_][A-Za-z0-9._-]*)*$")


def check_safe_text(value: str) -> str:
    """A name-like parameter (a column, an option): no shell metacharacters, no control."""
    if _SHELL_OR_CONTROL.search(value):
        raise ValueError("must not contain control characters or any of ; & | ` $ < > \\")
    return value


def check_job_path(value: str) -> str:
    """A relative path inside the job's folder: no '..', no absolute path, plain names."""
    if len(value) > 512 or not _JOB_PATH.match(value) or ".." in value.split("/"):
        raise ValueError("must be a relative path inside the job folder (letters, digits, . _ -)")
    return value


SafeText = Annotated[str, Field(min_length=1, max_length=256), AfterValidator(check_safe_text)]
JobPath = Annotated[str, AfterValidator(check_job_path)]


class RecipeParams(BaseModel):
    """Base of every recipe's parameters: unknown fields are refused, not ignored."""

    model_config = ConfigDict(extra="forbid")


class JobError(Exception):
    """A failure the job's owner can act on (a missing column, a bad value)."""


class RecipeResult(BaseModel):
    """What a finished recipe hands to the worker for registration (`result.json`)."""

    model_config = ConfigDict(extra="forbid")

    format: ModelFormat
    objective: Objective
    files: list[str] = Field(min_length=1, description="Paths relative to the output folder.")
    metrics: dict[str, float] = Field(default_factory=dict)
    signature: Signature | None = None
    example: dict[str, Any] | None = None
    description: str = ""
    details: dict[str, Any] = Field(
        default_factory=dict, description="Saved with the version (features, classes, ...)."
    )
    serving: dict[str, Any] = Field(
        default_factory=dict,
        description="Serving settings merged into the target model's (a LoRA's base_model).",
    )


@dataclass(frozen=True)
class Recipe:
    """A training recipe: one module each, registered by name."""

    name: str
    title: str
    description: str
    params: type[RecipeParams]
    run: Callable[[JobContext, Any], RecipeResult]
    model_format: Callable[[Any], ModelFormat]
    dataset_formats: tuple[str, ...] = ()
    distributed: bool = False

    def validate(self, raw: dict[str, Any]) -> RecipeParams:
        """The parameters, checked against the schema (pydantic's ValidationError if not)."""
        return self.params.model_validate(raw)

    def schema(self) -> dict[str, Any]:
        """The JSON schema of the parameters, for forms and clients."""
        return self.params.model_json_schema()
