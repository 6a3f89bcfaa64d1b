"""LightGBM boosters in LightGBM's text format: no code runs on load."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from aiplayground.errors import require_extra
from aiplayground.inference.runtimes import Arrays, LoadSpec
from aiplayground.inference.runtimes.base import (
    as_matrix,
    booster_metadata,
    class_outputs,
    only_input,
    pick_file,
)

PROBABILITY_OBJECTIVES = ("binary", "multiclass", "multiclassova", "cross_entropy")


def load(directory: Path, load_spec: LoadSpec) -> LightGBMRuntime:
    """Load the version's model file (.txt or .lgb)."""
    lgb = require_extra("lightgbm", "lightgbm")
    path = pick_file(directory, (".txt", ".lgb"), load_spec)
    booster = lgb.Booster(model_file=str(path))
    return LightGBMRuntime(booster, _objective(path), load_spec.threads)


def _objective(path: Path) -> str:
    # The objective is a header line of the text format ("objective=multiclass num_class:3");
    # reading it there avoids dumping the whole model to JSON.
    with path.open("r", encoding="utf-8", errors="replace") as f:
        for _, line in zip(range(200), f, strict=False):
            if line.startswith("objective="):
                return line.split("=", 1)[1].split()[0].strip()
    return "regression"


class LightGBMRuntime:
    """Classifiers answer `predict` (class index) and `predict_proba`; others `predict`."""

    def __init__(self, booster: Any, objective: str, threads: int) -> None:
        self.booster = booster
        self.objective = objective
        self.threads = threads
        self.is_classifier = objective in PROBABILITY_OBJECTIVES
        self.features = int(booster.num_feature())
        self.classes = int(booster.num_model_per_iteration()) if self.is_classifier else 0

    def metadata(self) -> dict[str, list[dict[str, Any]]]:
        """One feature matrix in; labels and probabilities out for classifiers."""
        return booster_metadata("FP64", self.features, self.classes, self.is_classifier)

    def defaults(self) -> list[str]:
        """Class indices for classifiers, values otherwise (as LGBMClassifier.predict)."""
        return ["predict"]

    def predict(
        self, inputs: Arrays, outputs: Sequence[str], parameters: Mapping[str, Any]
    ) -> Arrays:
        """Predict on the numpy matrix."""
        x = as_matrix(only_input(inputs))
        scores = np.asarray(self.booster.predict(x, num_threads=self.threads))
        if not self.is_classifier:
            return {"predict": scores}
        return class_outputs(scores, outputs, "predict", "predict_proba")
