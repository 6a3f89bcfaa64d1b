"""Apply a `Preprocessing` to ROOT events, chunk by chunk, into numpy feature matrices.

Jagged branches become fixed-width columns with whole-array operations only
(`ak.pad_none` + `ak.fill_none` + `ak.to_numpy` per component, written into one
preallocated matrix), never a Python loop per event: that is what keeps the platform's
preprocessing close to a hand-written uproot+awkward loop (see benchmarks/hep.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from aiplayground.errors import InvalidInput
from aiplayground.hep.expression import parse
from aiplayground.hep.preprocessing import (
    AggregateFeature,
    BranchFeature,
    Collection,
    FlatLayout,
    JaggedLayout,
    MassFeature,
    PadFeature,
    Preprocessing,
    Scaler,
)
from aiplayground.hep.reader import DEFAULT_STEP, check_branches, get_tree, open_root

Array = np.ndarray[Any, Any]


@dataclass
class Chunk:
    """Feature rows of one chunk and the tree entry each row came from (after cuts).

    `carried` holds the flat branches asked for with `carry` (labels, weights), one value
    per row, with their own dtype: they go along the features without becoming features.
    """

    matrix: Array
    entries: Array
    carried: dict[str, Array] = field(default_factory=dict)


@dataclass
class _Plan:
    """A preprocessing resolved against one tree: the layout of each collection, the branches."""

    layouts: dict[str, JaggedLayout | FlatLayout]
    branches: set[str]


def plan(pre: Preprocessing, tree: Any, carry: Iterable[str] = ()) -> _Plan:
    """Pick each collection's layout for this tree and list the branches to read."""
    keys = set(tree.keys())
    layouts: dict[str, JaggedLayout | FlatLayout] = {}
    branches: set[str] = set()
    for collection in pre.collections:
        for layout in collection.layouts:
            needed = _layout_branches(layout)
            if needed <= keys:
                layouts[collection.name] = layout
                branches |= needed
                break
        else:
            options = [sorted(_layout_branches(layout)) for layout in collection.layouts]
            raise InvalidInput(
                f"tree {tree.name!r} has the branches of no layout of collection "
                f"{collection.name!r} (looked for {options})"
            )
    names = {f.branch for f in pre.features if isinstance(f, BranchFeature)}
    for cut in pre.cuts:
        names |= parse(cut).names
    names |= set(carry)
    check_branches(tree, names)
    return _Plan(layouts, branches | names)


def _carried(ak: Any, arrays: Any, carry: Sequence[str], keep: Array | None) -> dict[str, Array]:
    out: dict[str, Array] = {}
    for name in carry:
        values = arrays[name]
        if values.ndim != 1:
            raise InvalidInput(f"branch {name!r} is jagged: it cannot give one value per event")
        column = np.asarray(ak.to_numpy(values))
        out[name] = column if keep is None else column[keep]
    return out


def _layout_branches(layout: JaggedLayout | FlatLayout) -> set[str]:
    if isinstance(layout, JaggedLayout):
        return set(layout.fields.values())
    return {b for obj in layout.objects for b in obj.values()}


def iter_features(
    pre: Preprocessing,
    source: str | Path,
    *,
    step_size: str | int = DEFAULT_STEP,
    scale: bool = True,
    carry: Sequence[str] = (),
) -> Iterator[Chunk]:
    """Feature rows of a ROOT file, one chunk at a time (memory bounded by `step_size`).

    `carry` names flat branches to hand back per kept row in `Chunk.carried` (a label
    branch for training, say), read in the same pass as the features.
    """
    import awkward as ak

    with open_root(source) as root:
        tree = get_tree(root, pre.tree)
        resolved = plan(pre, tree, carry)
        wanted = resolved.branches
        chunks = tree.iterate(
            filter_name=lambda name: name in wanted,
            step_size=step_size,
            library="ak",
            report=True,
        )
        for arrays, report in chunks:
            matrix, keep = transform(pre, resolved, arrays)
            entries = np.arange(report.tree_entry_start, report.tree_entry_stop, dtype=np.int64)
            if keep is not None:
                entries = entries[keep]
            if scale and pre.scaler is not None:
                matrix = apply_scaler(pre.scaler, matrix)
            yield Chunk(matrix, entries, _carried(ak, arrays, carry, keep))


def features(
    pre: Preprocessing, source: str | Path, *, step_size: str | int = DEFAULT_STEP
) -> tuple[Array, list[str]]:
    """The whole feature matrix of a file (events x features) and the column names."""
    chunks = [c.matrix for c in iter_features(pre, source, step_size=step_size)]
    width = len(pre.feature_names())
    matrix = np.concatenate(chunks) if chunks else np.empty((0, width))
    return matrix, pre.feature_names()


def fit_scaler(
    pre: Preprocessing, sources: Iterable[str | Path], *, step_size: str | int = DEFAULT_STEP
) -> Preprocessing:
    """A copy of `pre` with mean/std fitted on the files' events, streaming."""
    total: Array | None = None
    squares: Array | None = None
    count = 0
    for source in sources:
        for chunk in iter_features(pre, source, step_size=step_size, scale=False):
            total = chunk.matrix.sum(axis=0) + (0 if total is None else total)
            squares = (chunk.matrix**2).sum(axis=0) + (0 if squares is None else squares)
            count += chunk.matrix.shape[0]
    if total is None or squares is None or count == 0:
        raise InvalidInput("no events passed the cuts: nothing to fit a scaler on")
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean**2, 0.0))
    scaler = Scaler(mean=mean.tolist(), std=np.where(std > 0, std, 1.0).tolist())
    return pre.model_copy(update={"scaler": scaler})


def apply_scaler(scaler: Scaler, matrix: Array) -> Array:
    """(x - mean) / std, column-wise."""
    scaled: Array = (matrix - np.asarray(scaler.mean)) / np.asarray(scaler.std)
    return scaled


def transform(pre: Preprocessing, resolved: _Plan, arrays: Any) -> tuple[Array, Array | None]:
    """One chunk of awkward arrays -> (matrix, indices of the rows kept by the cuts)."""
    import awkward as ak

    keep = _cut_mask(ak, pre.cuts, arrays) if pre.cuts else None
    if keep is not None:
        arrays = arrays[keep]
    collections = {
        c.name: _raw_parts(ak, resolved.layouts[c.name], arrays) for c in pre.collections
    }
    # Multiplicity selections first: derived quantities are computed only for kept events.
    enough = _multiplicity_mask(ak, pre.collections, collections, len(arrays))
    if enough is not None:
        arrays = arrays[enough]
        collections = {
            name: {part: values[enough] for part, values in parts.items()}
            for name, parts in collections.items()
        }
        keep = enough if keep is None else _refine(keep, enough)
    collections = {c.name: _finish(ak, c, collections[c.name]) for c in pre.collections}
    rows = len(arrays)
    out = np.empty((rows, len(pre.feature_names())), dtype=np.float64)
    column = 0
    for feature in pre.features:
        block = _feature(ak, feature, arrays, collections, rows)
        out[:, column : column + block.shape[1]] = block
        column += block.shape[1]
    return out, (None if keep is None else np.flatnonzero(keep))


def _multiplicity_mask(
    ak: Any, specs: list[Collection], collections: dict[str, dict[str, Any]], rows: int
) -> Array | None:
    mask: Array | None = None
    for spec in specs:
        if spec.min_count:
            first = next(iter(collections[spec.name].values()))
            enough = ak.to_numpy(ak.num(first, axis=1)) >= spec.min_count
            mask = enough if mask is None else mask & enough
    return mask


def _refine(keep: Array, enough: Array) -> Array:
    """A mask over the chunk's entries from the cut mask and a mask over the kept rows."""
    combined = keep.copy()
    combined[np.flatnonzero(keep)[~enough]] = False
    return combined


def _cut_mask(ak: Any, cuts: list[str], arrays: Any) -> Array:
    mask = np.ones(len(arrays), dtype=bool)
    columns = {name: arrays[name] for name in arrays.fields}
    for text in cuts:
        value = parse(text).evaluate(columns)
        if isinstance(value, ak.Array):
            if value.ndim != 1:
                raise InvalidInput(
                    f"cut {text!r} gives several values per event; reduce it with "
                    "count(), any(), all() or sum()"
                )
            value = ak.to_numpy(value)
        mask &= np.broadcast_to(np.asarray(value, dtype=bool), mask.shape)
    return mask


def _raw_parts(ak: Any, layout: JaggedLayout | FlatLayout, arrays: Any) -> dict[str, Any]:
    if isinstance(layout, JaggedLayout):
        return {name: arrays[branch] for name, branch in layout.fields.items()}
    # Per-object flat branches become a regular (events x objects) array per component.
    return {
        name: ak.from_numpy(
            np.stack([ak.to_numpy(arrays[obj[name]]) for obj in layout.objects], axis=1)
        )
        for name in layout.objects[0]
    }


def _finish(ak: Any, spec: Collection, parts: dict[str, Any]) -> dict[str, Any]:
    """Derived components and the leading-first order; derives after sorting where it can."""
    wanted = list(spec.derive)
    if spec.sort_by is not None:
        if spec.sort_by in wanted:
            parts = parts | _derive([spec.sort_by], parts)
            wanted.remove(spec.sort_by)
        order = ak.argsort(parts[spec.sort_by], axis=1, ascending=False)
        parts = {name: values[order] for name, values in parts.items()}
    if wanted:
        parts = parts | _derive(wanted, parts)
    return parts


def _derive(wanted: Sequence[str], p: dict[str, Any]) -> dict[str, Any]:
    """pt, eta, phi, mass from px, py, pz, E (the formulas the `vector` library uses)."""
    out: dict[str, Any] = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        pt = np.hypot(p["px"], p["py"])
        if "pt" in wanted:
            out["pt"] = pt
        if "eta" in wanted:
            out["eta"] = np.arcsinh(p["pz"] / pt)
        if "phi" in wanted:
            out["phi"] = np.arctan2(p["py"], p["px"])
        if "mass" in wanted:
            out["mass"] = _mass(p["E"], p["px"], p["py"], p["pz"])
    return out


def _mass(e: Any, px: Any, py: Any, pz: Any) -> Any:
    # A slightly negative m^2 from rounding means a massless object, not an imaginary mass.
    return np.sqrt(np.maximum(e * e - (px * px + py * py + pz * pz), 0.0))


def _padded(ak: Any, values: Any, length: int, fill: float) -> Array:
    padded = ak.fill_none(ak.pad_none(values, length, axis=1, clip=True), fill)
    return np.asarray(ak.to_numpy(padded), dtype=np.float64)


def _feature(
    ak: Any,
    feature: Any,
    arrays: Any,
    collections: dict[str, dict[str, Any]],
    rows: int,
) -> Array:
    if isinstance(feature, BranchFeature):
        values = arrays[feature.branch]
        if values.ndim != 1:
            raise InvalidInput(f"branch {feature.branch!r} is jagged: use it through a collection")
        return np.asarray(ak.to_numpy(values), dtype=np.float64).reshape(rows, 1)
    parts = collections[feature.collection]
    counts = ak.to_numpy(ak.num(next(iter(parts.values())), axis=1))
    if isinstance(feature, PadFeature):
        width = len(feature.fields) + int(feature.mask)
        block = np.empty((rows, feature.length, width), dtype=np.float64)
        for i, name in enumerate(feature.fields):
            block[:, :, i] = _padded(ak, parts[name], feature.length, feature.fill)
        if feature.mask:
            block[:, :, -1] = np.arange(feature.length) < counts[:, None]
        return block.reshape(rows, feature.length * width)
    if isinstance(feature, AggregateFeature):
        block = np.empty((rows, len(feature.ops)), dtype=np.float64)
        for i, op in enumerate(feature.ops):
            if op == "count":
                block[:, i] = counts
                continue
            assert feature.field is not None  # the model validator requires it for these ops
            reduced = getattr(ak, op)(parts[feature.field], axis=1)
            block[:, i] = ak.to_numpy(ak.fill_none(reduced, feature.fill))
        return block
    assert isinstance(feature, MassFeature)
    e, px, py, pz = (
        _padded(ak, parts[c], feature.k, 0.0).sum(axis=1) for c in ("E", "px", "py", "pz")
    )
    mass = _mass(e, px, py, pz)
    return np.where(counts >= feature.k, mass, feature.fill).reshape(rows, 1)
