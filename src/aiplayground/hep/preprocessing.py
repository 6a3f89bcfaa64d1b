"""The saved preprocessing of ROOT events into a fixed-width feature matrix.

A `Preprocessing` is plain data (pydantic, JSON): it is stored in a model version's
`params["preprocessing"]`, so inference on a ROOT file applies exactly the steps used in
training. Objects (muons, jets) form *collections*; a collection can be read from jagged
branches (`Muon_Px`, ...) or from per-object flat branches (`px1`, `px2`, ...). The first
layout whose branches exist in the tree is used, so one preprocessing serves files of both
shapes and produces the same feature names.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, Field, field_validator, model_validator

from aiplayground.errors import InvalidInput
from aiplayground.hep.expression import parse

Component = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=64)]
DERIVED = ("pt", "eta", "phi", "mass")
FOUR_VECTOR = ("px", "py", "pz", "E")


class JaggedLayout(BaseModel):
    """A collection stored as jagged branches: component name -> branch."""

    kind: Literal["jagged"] = "jagged"
    fields: dict[Component, str]


class FlatLayout(BaseModel):
    """A collection stored as one set of flat branches per object (a fixed object count)."""

    kind: Literal["flat"] = "flat"
    objects: list[dict[Component, str]] = Field(min_length=1)

    @model_validator(mode="after")
    def _same_components(self) -> FlatLayout:
        first = set(self.objects[0])
        if any(set(o) != first for o in self.objects):
            raise ValueError("every object of a flat layout must name the same components")
        return self


Layout = Annotated[JaggedLayout | FlatLayout, Field(discriminator="kind")]


class Collection(BaseModel):
    """Objects of one kind per event, with optional derived kinematics and ordering."""

    name: Component
    layouts: list[Layout] = Field(min_length=1)
    derive: list[Literal["pt", "eta", "phi", "mass"]] = Field(
        default_factory=list, description="Computed from the px, py, pz, E components."
    )
    sort_by: Component | None = Field(
        default=None, description="Order objects by this component, largest first (leading-k)."
    )
    min_count: int = Field(
        default=0, ge=0, description="Drop events with fewer objects (a selection like a cut)."
    )


class BranchFeature(BaseModel):
    """A flat per-event branch taken as it is."""

    kind: Literal["branch"] = "branch"
    branch: str


class PadFeature(BaseModel):
    """The first `length` objects' components, padded with `fill` (plus a mask per slot)."""

    kind: Literal["pad"] = "pad"
    collection: Component
    fields: list[Component] = Field(min_length=1)
    length: int = Field(ge=1, le=1024)
    fill: float = 0.0
    mask: bool = True


class AggregateFeature(BaseModel):
    """Per-event reductions of a collection: count, or sum/max/min/mean of a component."""

    kind: Literal["aggregate"] = "aggregate"
    collection: Component
    field: Component | None = None
    ops: list[Literal["count", "sum", "max", "min", "mean"]] = Field(min_length=1)
    fill: float = 0.0

    @model_validator(mode="after")
    def _field_for_values(self) -> AggregateFeature:
        if self.field is None and set(self.ops) - {"count"}:
            raise ValueError("sum/max/min/mean need a field")
        return self


class MassFeature(BaseModel):
    """Invariant mass of the sum of the first `k` objects' four-vectors (e.g. a dimuon mass)."""

    kind: Literal["mass"] = "mass"
    collection: Component
    k: int = Field(default=2, ge=2, le=16)
    fill: float = 0.0


Feature = Annotated[
    BranchFeature | PadFeature | AggregateFeature | MassFeature, Field(discriminator="kind")
]


class Scaler(BaseModel):
    """Standardization fitted on training data: (x - mean) / std per feature."""

    mean: list[float]
    std: list[float]


class Preprocessing(BaseModel):
    """Tree, cuts, collections and features: ROOT events -> one row of floats per event."""

    tree: str = "events"
    cuts: list[str] = Field(default_factory=list, max_length=32)
    collections: list[Collection] = Field(default_factory=list)
    features: list[Feature] = Field(min_length=1)
    scaler: Scaler | None = None

    @field_validator("cuts")
    @classmethod
    def _safe_cuts(cls, cuts: list[str]) -> list[str]:
        for cut in cuts:
            try:
                parse(cut)
            except InvalidInput as exc:
                # A ValueError, so pydantic reports it as a field problem of `cuts`.
                raise ValueError(exc.message) from None
        return cuts

    @model_validator(mode="after")
    def _references(self) -> Preprocessing:
        known = {c.name: c for c in self.collections}
        if len(known) != len(self.collections):
            raise ValueError("collection names must be unique")
        for collection in self.collections:
            for layout in collection.layouts:
                if collection.derive and not set(FOUR_VECTOR) <= set(_components(layout)):
                    raise ValueError(f"{collection.name}: derive needs px, py, pz, E components")
        for feature in self.features:
            if isinstance(feature, BranchFeature):
                continue
            if feature.collection not in known:
                raise ValueError(f"feature uses unknown collection {feature.collection!r}")
            collection = known[feature.collection]
            available = {*_components(collection.layouts[0]), *collection.derive}
            wanted: set[str] = set()
            if isinstance(feature, PadFeature):
                wanted = set(feature.fields)
            elif isinstance(feature, AggregateFeature) and feature.field:
                wanted = {feature.field}
            elif isinstance(feature, MassFeature):
                wanted = set(FOUR_VECTOR)
            if missing := wanted - available:
                raise ValueError(f"collection {collection.name!r} has no {sorted(missing)}")
        names = self.feature_names()
        if self.scaler and not len(self.scaler.mean) == len(self.scaler.std) == len(names):
            raise ValueError(f"the scaler must have {len(names)} means and stds")
        return self

    def feature_names(self) -> list[str]:
        """The matrix columns, in order."""
        names: list[str] = []
        for f in self.features:
            if isinstance(f, BranchFeature):
                names.append(f.branch)
            elif isinstance(f, PadFeature):
                for i in range(f.length):
                    names += [f"{f.collection}_{c}_{i}" for c in f.fields]
                    if f.mask:
                        names.append(f"{f.collection}_mask_{i}")
            elif isinstance(f, AggregateFeature):
                for op in f.ops:
                    names.append(f"{f.collection}_count" if op == "count" else _agg(f, op))
            else:
                names.append(f"{f.collection}_mass_{f.k}")
        return names


def _agg(f: AggregateFeature, op: str) -> str:
    return f"{f.collection}_{f.field}_{op}"


def _components(layout: JaggedLayout | FlatLayout) -> list[str]:
    return list(layout.fields) if isinstance(layout, JaggedLayout) else list(layout.objects[0])


def suggest_pad_length(multiplicities: Sequence[int] | Any, quantile: float = 0.95) -> int:
    """The smallest N that holds every object of `quantile` of the events (at least 1).

    `multiplicities` is either one count per event or a histogram as
    `{"bins": [...], "counts": [...]}` (what the root summary reports).
    """
    if not 0 < quantile <= 1:
        raise ValueError("quantile must be in (0, 1]")
    if isinstance(multiplicities, dict):
        bins = np.asarray(multiplicities["bins"], dtype=np.int64)
        counts = np.asarray(multiplicities["counts"], dtype=np.int64)
    else:
        bins, counts = np.unique(np.asarray(multiplicities, dtype=np.int64), return_counts=True)
    total = counts.sum()
    if total == 0:
        return 1
    cumulative = np.cumsum(counts) / total
    index = int(np.searchsorted(cumulative, quantile - 1e-12))
    return max(1, int(bins[min(index, bins.size - 1)]))
