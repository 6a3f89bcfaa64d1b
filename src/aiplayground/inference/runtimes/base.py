"""Helpers the runtimes share: finding the model file, the single input, class outputs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from aiplayground.errors import InvalidInput
from aiplayground.inference.runtimes import Arrays, LoadSpec
from aiplayground.inference.tensor import datatype_of


def pick_file(directory: Path, suffixes: Sequence[str], spec: LoadSpec) -> Path:
    """The model's main file: `serving.main` if set, else the one file with a known suffix."""
    root = directory.resolve()
    main = spec.serving.get("main")
    if isinstance(main, str):
        path = (root / main).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            raise InvalidInput(f"serving.main {main!r} is not a file of this version")
        return path
    found = sorted(
        p
        for p in root.rglob("*")
        if p.suffix.lower() in suffixes and p.is_file() and not p.is_symlink()
    )
    if not found:
        raise InvalidInput(f"no {'/'.join(suffixes)} file in this version")
    named = [p for p in found if p.stem == "model"]
    if len(found) > 1 and len(named) == 1:
        return named[0]  # the catalog's rule too: with several, model.* is the one
    if len(found) > 1:
        names = ", ".join(str(p.relative_to(root)) for p in found[:5])
        raise InvalidInput(f"several model files ({names}); set the model's serving.main")
    return found[0]


def only_input(inputs: Arrays) -> np.ndarray[Any, Any]:
    """The one input of a single-input model."""
    if len(inputs) != 1:
        raise InvalidInput(f"this model takes one input, got {len(inputs)}")
    return next(iter(inputs.values()))


def as_matrix(array: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """A 2-D feature matrix (rows x features)."""
    if array.ndim != 2:
        raise InvalidInput(
            f"this model takes a 2-D input [rows, features], got shape {list(array.shape)}"
        )
    return array


def spec(name: str, array_or_datatype: Any, shape: list[int]) -> dict[str, Any]:
    """A tensor description for `metadata()`."""
    datatype = (
        array_or_datatype if isinstance(array_or_datatype, str) else datatype_of(array_or_datatype)
    )
    return {"name": name, "datatype": datatype, "shape": shape}


def class_outputs(
    probabilities: np.ndarray[Any, Any], wanted: Sequence[str], label_name: str, proba_name: str
) -> Arrays:
    """Labels (argmax, or p > 0.5 for one column) and per-class probabilities from scores."""
    if probabilities.ndim == 1:
        probabilities = np.stack([1.0 - probabilities, probabilities], axis=1)
    out: Arrays = {}
    if label_name in wanted:
        out[label_name] = probabilities.argmax(axis=1).astype(np.int64)
    if proba_name in wanted:
        out[proba_name] = probabilities
    return out


def booster_metadata(
    datatype: str, features: int, classes: int, is_classifier: bool
) -> dict[str, list[dict[str, Any]]]:
    """Metadata of a gradient-boosted model: one feature matrix in; labels and, for
    classifiers, probabilities out (at least two columns: binary models report one)."""
    inputs = [spec("input-0", datatype, [-1, features])]
    if not is_classifier:
        return {"inputs": inputs, "outputs": [spec("predict", datatype, [-1])]}
    width = max(classes, 2)
    outputs = [spec("predict", "INT64", [-1]), spec("predict_proba", datatype, [-1, width])]
    return {"inputs": inputs, "outputs": outputs}
