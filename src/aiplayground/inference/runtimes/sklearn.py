"""scikit-learn models saved with skops (never pickle)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from aiplayground.catalog.skops_types import untrusted_beyond_numeric_stack
from aiplayground.errors import InvalidInput
from aiplayground.inference.runtimes import Arrays, LoadSpec
from aiplayground.inference.runtimes.base import as_matrix, only_input, pick_file, spec


def load(directory: Path, load_spec: LoadSpec) -> SklearnRuntime:
    """Load the version's .skops file, trusting only numeric-stack types unless trusted."""
    import skops.io

    if load_spec.trusted and not any(directory.rglob("*.skops")):
        return _load_pickled(directory, load_spec)
    path = pick_file(directory, (".skops",), load_spec)
    types = skops.io.get_untrusted_types(file=path)
    refused = untrusted_beyond_numeric_stack(types)
    if refused and not load_spec.trusted:
        raise InvalidInput(
            "the model file uses types outside scikit-learn/numpy/scipy "
            f"({', '.join(refused[:5])}); an admin must mark the model trusted to serve it"
        )
    model = skops.io.load(path, trusted=types)
    if not callable(getattr(model, "predict", None)):
        raise InvalidInput(f"the .skops file holds a {type(model).__name__}, which cannot predict")
    return SklearnRuntime(model)


def _load_pickled(directory: Path, load_spec: LoadSpec) -> SklearnRuntime:
    # Pickle runs code: only for a model an admin marked trusted, in this worker process.
    import joblib

    model = joblib.load(pick_file(directory, (".joblib", ".pkl", ".pickle"), load_spec))
    if not callable(getattr(model, "predict", None)):
        raise InvalidInput(f"the file holds a {type(model).__name__}, which cannot predict")
    return SklearnRuntime(model)


class SklearnRuntime:
    """`predict` (labels or values) and, for classifiers, `predict_proba`."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.has_proba = callable(getattr(model, "predict_proba", None))

    def metadata(self) -> dict[str, list[dict[str, Any]]]:
        """Inputs from `n_features_in_`, outputs from `classes_` where known."""
        features = int(getattr(self.model, "n_features_in_", -1))
        classes = getattr(self.model, "classes_", None)
        outputs = [spec("predict", np.asarray(classes) if classes is not None else "FP64", [-1])]
        if self.has_proba:
            width = len(classes) if classes is not None else -1
            outputs.append(spec("predict_proba", "FP64", [-1, width]))
        return {"inputs": [spec("input-0", "FP64", [-1, features])], "outputs": outputs}

    def defaults(self) -> list[str]:
        """Labels (or values) only, as KServe's sklearn server answers."""
        return ["predict"]

    def predict(
        self, inputs: Arrays, outputs: Sequence[str], parameters: Mapping[str, Any]
    ) -> Arrays:
        """Call the estimator's own predict / predict_proba."""
        x = as_matrix(only_input(inputs))
        result: Arrays = {}
        for name in outputs:
            result[name] = np.asarray(getattr(self.model, name)(x))
        return result
