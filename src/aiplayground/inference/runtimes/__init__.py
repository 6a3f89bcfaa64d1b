"""Model runtimes: one module per model format behind the small `ModelRuntime` interface.

A runtime module is imported only inside a model worker process, when a model of its
format is loaded; each has `load(directory, spec) -> ModelRuntime`.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from aiplayground.errors import InvalidInput

# The output classifiers of the sklearn, XGBoost and LightGBM runtimes answer with class
# probabilities (and ONNX classifiers exported by the MLP recipe).
PROBA_OUTPUT = "predict_proba"

# format -> (module under this package, pip extra that provides its library)
RUNTIMES: dict[str, str] = {
    "sklearn": "sklearn",
    "xgboost": "xgboost",
    "lightgbm": "lightgbm",
    "onnx": "onnx",
    "pytorch": "pytorch",
    "keras": "keras",
    "huggingface": "huggingface",
}

Arrays = dict[str, np.ndarray[Any, Any]]


@dataclass(frozen=True)
class LoadSpec:
    """What a worker needs to know to load one model version."""

    name: str
    format: str
    trusted: bool = False
    serving: dict[str, Any] = field(default_factory=dict)
    threads: int = 1


class ModelRuntime(Protocol):
    """A loaded model: what it takes and gives, and a batched predict."""

    def metadata(self) -> dict[str, list[dict[str, Any]]]:
        """`{"inputs": [TensorSpec...], "outputs": [TensorSpec...]}`, outputs in canonical order.

        The first outputs are those returned when the caller names none (see `defaults`).
        """
        ...

    def defaults(self) -> list[str]:
        """The outputs returned when a request names none."""
        ...

    def predict(
        self, inputs: Arrays, outputs: Sequence[str], parameters: Mapping[str, Any]
    ) -> Arrays:
        """Run the model on a batch; `outputs` are names from `metadata()`."""
        ...


def load_runtime(directory: Path, spec: LoadSpec) -> ModelRuntime:
    """Import the runtime module of `spec.format` and load the model files in `directory`."""
    module_name = RUNTIMES.get(spec.format)
    if module_name is None:
        raise InvalidInput(
            f"no runtime serves format {spec.format!r}; known formats: {', '.join(RUNTIMES)}"
        )
    module = importlib.import_module(f"{__name__}.{module_name}")
    runtime: ModelRuntime = module.load(directory, spec)
    return runtime
