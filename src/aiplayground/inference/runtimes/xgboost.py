"""XGBoost boosters in XGBoost's own formats (.json, .ubj): no code runs on load."""

from __future__ import annotations

import json
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

PROBABILITY_OBJECTIVES = ("binary:logistic", "multi:softprob")


def load(directory: Path, load_spec: LoadSpec) -> XGBoostRuntime:
    """Load the version's booster file."""
    xgb = require_extra("xgboost", "xgboost")
    booster = xgb.Booster()
    booster.load_model(str(pick_file(directory, (".json", ".ubj"), load_spec)))
    booster.set_param({"nthread": load_spec.threads})
    return XGBoostRuntime(booster)


class XGBoostRuntime:
    """Classifiers answer `predict` (class index) and `predict_proba`; others `predict`."""

    def __init__(self, booster: Any) -> None:
        self.booster = booster
        learner = json.loads(booster.save_config())["learner"]
        self.objective: str = learner["objective"]["name"]
        self.features = int(booster.num_features())
        self.classes = int(learner["learner_model_param"].get("num_class", "0") or 0)
        self.is_classifier = self.objective in PROBABILITY_OBJECTIVES

    def metadata(self) -> dict[str, list[dict[str, Any]]]:
        """One FP32 feature matrix in; labels and probabilities out for classifiers."""
        return booster_metadata("FP32", self.features, self.classes, self.is_classifier)

    def defaults(self) -> list[str]:
        """Class indices for classifiers, values otherwise (as XGBClassifier.predict)."""
        return ["predict"]

    def predict(
        self, inputs: Arrays, outputs: Sequence[str], parameters: Mapping[str, Any]
    ) -> Arrays:
        """Predict in place on the numpy matrix (no DMatrix copy)."""
        x = as_matrix(only_input(inputs))
        scores = np.asarray(self.booster.inplace_predict(x, validate_features=False))
        if not self.is_classifier:
            return {"predict": scores}
        return class_outputs(scores, outputs, "predict", "predict_proba")
