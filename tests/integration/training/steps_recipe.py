"""A recipe for tests: counts steps slowly, checkpoints each one, and yields a tiny ONNX model.

Offered to test workers through `AIP_TRAINING__EXTRA_RECIPES` (the site-recipe mechanism),
so the worker tests need neither a dataset nor a heavy library.
"""

from __future__ import annotations

import json
import os
import time

from pydantic import Field, model_validator

from aiplayground.catalog.schemas import ModelFormat, Objective
from aiplayground.training.context import JobContext
from aiplayground.training.recipes.base import JobError, Recipe, RecipeParams, RecipeResult


class StepsParams(RecipeParams):
    steps: int = Field(3, ge=1, le=100_000)
    step_s: float = Field(0.01, ge=0, le=60)
    fail_with: str | None = None
    # Step counts the parameters refuse (a search's drawn values the recipe turns down).
    refused_steps: list[int] = Field(default_factory=list)

    @model_validator(mode="after")
    def _not_refused(self) -> StepsParams:
        if self.steps in self.refused_steps:
            raise ValueError(f"steps={self.steps} is refused")
        return self


def run(ctx: JobContext, p: StepsParams) -> RecipeResult:
    (ctx.root / "pid").write_text(str(os.getpid()))
    ctx.log("environment: " + " ".join(sorted(os.environ)))
    state = ctx.checkpoint_dir / "state.json"
    start = json.loads(state.read_text())["step"] if state.exists() else 0
    if start:
        ctx.log(f"resumed at step {start}")
    for step in range(start, p.steps):
        time.sleep(p.step_s)
        ctx.metric(step + 1, loss=1.0 / (step + 1))
        ctx.progress((step + 1) / p.steps)
        tmp = state.with_suffix(".tmp")
        tmp.write_text(json.dumps({"step": step + 1}))
        tmp.replace(state)
    if p.fail_with:
        raise JobError(p.fail_with)
    _identity_onnx(ctx.output_dir / "model.onnx")
    return RecipeResult(
        format=ModelFormat.ONNX,
        objective=Objective.OTHER,
        files=["model.onnx"],
        metrics={"steps": float(p.steps)},
        details={"resumed_at": start},
    )


def _identity_onnx(path: object) -> None:
    from onnx import TensorProto, helper, save

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "identity",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    save(model, str(path))


RECIPE = Recipe(
    name="steps",
    title="Steps (tests)",
    description="Counts steps with a checkpoint after each one.",
    params=StepsParams,
    run=run,
    model_format=lambda p: ModelFormat.ONNX,
)
