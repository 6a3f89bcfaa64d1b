"""Keras 3 models in the `.keras` format, loaded in safe mode (no Lambda layers)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from aiplayground.errors import require_extra
from aiplayground.inference.runtimes import Arrays, LoadSpec
from aiplayground.inference.runtimes.base import pick_file


def load(directory: Path, load_spec: LoadSpec) -> KerasRuntime:
    """Load the version's .keras file; arbitrary code only for trusted models."""
    keras = require_extra("keras", "keras")
    path = pick_file(directory, (".keras",), load_spec)
    model = keras.saving.load_model(str(path), compile=False, safe_mode=not load_spec.trusted)
    return KerasRuntime(model)


class KerasRuntime:
    """Inputs by the model's input names (or the lone input); outputs by output names."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.input_names = [t.name for t in model.inputs] if model.inputs else ["input-0"]
        names = getattr(model, "output_names", None) or []
        count = len(model.outputs) if model.outputs else 1
        self.output_names = (
            list(names) if len(names) == count else [f"output-{i}" for i in range(count)]
        )

    def metadata(self) -> dict[str, list[dict[str, Any]]]:
        """The model's inputs and outputs; unknown dimensions are -1."""

        def dims(tensor: Any) -> list[int]:
            return [d if isinstance(d, int) else -1 for d in tensor.shape]

        inputs = [
            {"name": n, "datatype": "FP32", "shape": dims(t)}
            for n, t in zip(self.input_names, self.model.inputs or [], strict=False)
        ]
        outputs = [
            {"name": n, "datatype": "FP32", "shape": dims(t)}
            for n, t in zip(self.output_names, self.model.outputs or [], strict=False)
        ]
        return {"inputs": inputs, "outputs": outputs}

    def defaults(self) -> list[str]:
        """Every output."""
        return list(self.output_names)

    def predict(
        self, inputs: Arrays, outputs: Sequence[str], parameters: Mapping[str, Any]
    ) -> Arrays:
        """Run the model on the whole batch at once."""
        if len(inputs) == 1:
            args: Any = next(iter(inputs.values()))
        else:
            args = [inputs[n] for n in self.input_names]
        result = self.model.predict_on_batch(args)
        if isinstance(result, dict):
            result = [result[n] for n in self.output_names]
        if not isinstance(result, (list, tuple)):
            result = [result]
        produced = {n: np.asarray(r) for n, r in zip(self.output_names, result, strict=True)}
        return {n: produced[n] for n in outputs}
