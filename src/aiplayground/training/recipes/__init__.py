"""The recipes a platform offers: built-in ones plus site-specific modules from settings.

Each recipe is a module with a `RECIPE` object; heavy libraries (torch, xgboost, ...) are
imported inside `run`, so listing recipes imports none of them.
"""

from __future__ import annotations

import importlib

from aiplayground.errors import ValidationFailed
from aiplayground.training.recipes.base import Recipe

BUILTIN: dict[str, str] = {
    "tabular": "aiplayground.training.recipes.tabular",
    "mlp": "aiplayground.training.recipes.mlp",
    "lora": "aiplayground.training.recipes.lora",
}


def load_recipe(module: str) -> Recipe:
    """The `RECIPE` of a module."""
    recipe = getattr(importlib.import_module(module), "RECIPE", None)
    if not isinstance(recipe, Recipe):
        raise TypeError(f"module {module!r} has no RECIPE")
    return recipe


class RecipeRegistry:
    """Recipes by name; extra modules are imported on first use."""

    def __init__(self, extra_modules: list[str] | None = None) -> None:
        self._extra = list(extra_modules or [])
        self._modules: dict[str, str] | None = None

    def _index(self) -> dict[str, str]:
        if self._modules is None:
            modules = dict(BUILTIN)
            for module in self._extra:
                modules[load_recipe(module).name] = module
            self._modules = modules
        return self._modules

    def names(self) -> list[str]:
        """Every recipe name, sorted."""
        return sorted(self._index())

    def module(self, name: str) -> str:
        """The module that holds a recipe; 422 naming the field when unknown."""
        module = self._index().get(name)
        if module is None:
            known = ", ".join(self.names())
            raise ValidationFailed(
                f"unknown recipe {name!r}; known: {known}", details={"field": "recipe"}
            )
        return module

    def get(self, name: str) -> Recipe:
        """One recipe by name."""
        return load_recipe(self.module(name))

    def all(self) -> list[Recipe]:
        """Every recipe, sorted by name."""
        return [self.get(name) for name in self.names()]
