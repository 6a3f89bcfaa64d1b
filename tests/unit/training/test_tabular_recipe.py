"""The tabular recipe in-process: each library, classification, regression, CSV, Parquet."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aiplayground.catalog.formats import check_model_files
from aiplayground.training.context import DatasetSpec, JobContext, JobSpec
from aiplayground.training.recipes.base import JobError
from aiplayground.training.recipes.tabular import RECIPE


def _context(
    tmp_path: Path, frame: pd.DataFrame, params: dict[str, object], fmt: str
) -> JobContext:
    data = tmp_path / "data"
    data.mkdir(parents=True)
    name = "table.parquet" if fmt == "parquet" else "table.csv"
    if fmt == "parquet":
        frame.to_parquet(data / name)
    else:
        frame.to_csv(data / name, index=False)
    spec = JobSpec(
        job_id="j",
        recipe="tabular",
        recipe_module="aiplayground.training.recipes.tabular",
        params=params,
        dataset=DatasetSpec(name="d", version=1, format=fmt, files=[name]),
    )
    return JobContext(tmp_path, spec)


def _iris() -> pd.DataFrame:
    from sklearn.datasets import load_iris

    frame = load_iris(as_frame=True).frame
    frame["target"] = np.array(["setosa", "versicolor", "virginica"])[frame["target"]]
    return frame


@pytest.mark.parametrize(("library", "fmt"), [("xgboost", "csv"), ("lightgbm", "parquet")])
def test_boosters_report_per_round_and_save_native_models(
    tmp_path: Path, library: str, fmt: str
) -> None:
    params = {"target": "target", "library": library, "n_estimators": 20}
    ctx = _context(tmp_path, _iris(), params, fmt)
    result = RECIPE.run(ctx, RECIPE.validate(params))
    assert result.metrics["accuracy"] > 0.85
    assert result.details["classes"] == ["setosa", "versicolor", "virginica"]
    files = [(name, ctx.output_dir / name) for name in result.files]
    assert check_model_files(result.format, files, trusted=False)["kind"] == library
    rounds = [
        line
        for line in (tmp_path / "metrics.jsonl").read_text().splitlines()
        if "validation_" in line
    ]
    assert len(rounds) >= 20


def test_binary_and_regression(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 3))
    frame = pd.DataFrame(x, columns=["a", "b", "c"])
    frame["y"] = 2 * frame["a"] - frame["b"] + rng.normal(scale=0.1, size=300)
    frame["label"] = (frame["y"] > 0).astype(int)
    regression = {"target": "y", "library": "lightgbm", "features": ["a", "b", "c"]}
    result = RECIPE.run(
        _context(tmp_path / "r", frame, regression, "csv"), RECIPE.validate(regression)
    )
    assert result.objective == "regression"
    assert result.metrics["r2"] > 0.8
    binary = {"target": "label", "library": "xgboost", "features": ["a", "b", "c"]}
    result = RECIPE.run(_context(tmp_path / "b", frame, binary, "csv"), RECIPE.validate(binary))
    assert result.objective == "classification"
    assert result.metrics["roc_auc"] > 0.9


def test_user_errors_are_job_errors(tmp_path: Path) -> None:
    frame = _iris()
    for params, message in [
        ({"target": "nope"}, "no column 'nope'"),
        ({"target": "target", "features": ["petal width (cm)", "x"]}, "no column 'x'"),
        ({"target": "target", "task": "regression"}, "numeric target"),
    ]:
        ctx = _context(tmp_path / message.replace(" ", "_").replace("'", ""), frame, params, "csv")
        with pytest.raises(JobError, match=message):
            RECIPE.run(ctx, RECIPE.validate(params))
