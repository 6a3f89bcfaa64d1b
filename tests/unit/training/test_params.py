"""Recipe parameters: schemas, safe text and paths, the registry."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from aiplayground.errors import ValidationFailed
from aiplayground.training.recipes import RecipeRegistry
from aiplayground.training.recipes.base import JobPath, SafeText
from aiplayground.training.recipes.tabular import TabularParams, resolve_task


class Sample(BaseModel):
    name: SafeText
    path: JobPath | None = None


@pytest.mark.parametrize(
    "value",
    ["a; rm -rf /", "$(id)", "`id`", "a|b", "a&b", "a>b", "a<b", "a\nb", "a\\b", "nul\x00"],
)
def test_safe_text_refuses_shell_metacharacters(value: str) -> None:
    with pytest.raises(ValidationError):
        Sample(name=value)


def test_safe_text_keeps_ordinary_column_names() -> None:
    assert Sample(name="sepal length (cm)").name == "sepal length (cm)"
    assert Sample(name="Muon_pt[0]").name == "Muon_pt[0]"


@pytest.mark.parametrize("value", ["../x", "/etc/passwd", "a/../../b", "a/./b", ".hidden", "a//b"])
def test_job_paths_stay_in_the_job_folder(value: str) -> None:
    with pytest.raises(ValidationError):
        Sample(name="x", path=value)


def test_job_paths_accept_relative_names() -> None:
    assert Sample(name="x", path="checkpoints/last.pt").path == "checkpoints/last.pt"


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError) as info:
        TabularParams.model_validate({"target": "y", "n_estimator": 5})
    assert info.value.errors()[0]["loc"] == ("n_estimator",)


def test_every_parameter_is_described() -> None:
    for recipe in RecipeRegistry().all():
        schema = recipe.schema()
        for name, prop in schema["properties"].items():
            assert prop.get("description"), f"{recipe.name}.{name} has no description"
        assert recipe.description.strip()


def test_unknown_recipe_names_the_field() -> None:
    with pytest.raises(ValidationFailed) as info:
        RecipeRegistry().get("nope")
    assert info.value.details == {"field": "recipe"}
    assert "tabular" in info.value.message


def test_listing_recipes_imports_no_heavy_library() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from aiplayground.training.recipes import RecipeRegistry; "
        "[r.schema() for r in RecipeRegistry().all()]; "
        "print(sorted(m for m in ('torch', 'xgboost', 'lightgbm', 'sklearn') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_auto_task() -> None:
    import pandas as pd

    assert resolve_task(pd.Series(["a", "b"]), "auto") == "classification"
    assert resolve_task(pd.Series([0, 1, 2, 1]), "auto") == "classification"
    assert resolve_task(pd.Series([0.5, 1.25, 2.0]), "auto") == "regression"
    assert resolve_task(pd.Series(range(100)), "auto") == "regression"
    assert resolve_task(pd.Series(["a"]), "regression") == "regression"
