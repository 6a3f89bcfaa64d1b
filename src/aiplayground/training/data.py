"""Dataset loaders for recipes: one function per dataset format, all returning a table.

The HEP work plugs ROOT in here: a `load_root(files, **options)` that applies the saved
preprocessing and returns the same kind of table, registered under "root".
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiplayground.training.recipes.base import JobError

if TYPE_CHECKING:
    import pandas as pd

TableLoader = Callable[[list[Path]], "pd.DataFrame"]

CSV_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")


def _matching(files: list[Path], suffixes: tuple[str, ...], what: str) -> list[Path]:
    chosen = [f for f in files if f.name.lower().endswith(suffixes)]
    if not chosen:
        raise JobError(f"the dataset has no {what} file (looked for {', '.join(suffixes)})")
    return sorted(chosen)


def load_csv(files: list[Path]) -> pd.DataFrame:
    """Every CSV/TSV file of the version, stacked (they must share their columns)."""
    import pandas as pd

    frames = []
    for path in _matching(files, CSV_SUFFIXES, "CSV"):
        sep = "\t" if ".tsv" in path.name.lower() else ","
        try:
            frames.append(pd.read_csv(path, sep=sep, encoding_errors="replace"))
        except (ValueError, UnicodeError, pd.errors.ParserError) as exc:
            raise JobError(f"cannot read {path.name} as CSV: {exc}") from exc
    return _stack(frames)


def load_parquet(files: list[Path]) -> pd.DataFrame:
    """Every Parquet file of the version, stacked."""
    import pandas as pd
    import pyarrow

    frames = []
    for path in _matching(files, PARQUET_SUFFIXES, "Parquet"):
        try:
            frames.append(pd.read_parquet(path))
        except (OSError, ValueError, pyarrow.ArrowException) as exc:
            raise JobError(f"cannot read {path.name} as Parquet: {exc}") from exc
    return _stack(frames)


def _stack(frames: list[pd.DataFrame]) -> pd.DataFrame:
    import pandas as pd

    if len(frames) == 1:
        return frames[0]
    columns = list(frames[0].columns)
    for frame in frames[1:]:
        if list(frame.columns) != columns:
            raise JobError("the dataset's files do not have the same columns")
    return pd.concat(frames, ignore_index=True)


TABLE_LOADERS: dict[str, TableLoader] = {"csv": load_csv, "parquet": load_parquet}


def load_table(fmt: str, files: list[Path]) -> pd.DataFrame:
    """The dataset as one table, read by the loader of its format."""
    loader = TABLE_LOADERS.get(fmt)
    if loader is None:
        known = ", ".join(sorted(TABLE_LOADERS))
        raise JobError(f"tabular recipes cannot read {fmt!r} datasets yet (known: {known})")
    table = loader(files)
    if table.empty:
        raise JobError("the dataset has no rows")
    return table


def select_columns(
    table: pd.DataFrame, target: str, features: list[str] | None
) -> tuple[pd.DataFrame, pd.Series[Any], list[str]]:
    """The feature columns (numeric; all numeric ones but the target by default) and target."""
    import pandas as pd

    if target not in table.columns:
        raise JobError(f"the dataset has no column {target!r} (columns: {_shown(table)})")
    if features:
        missing = [c for c in features if c not in table.columns]
        if missing:
            raise JobError(f"the dataset has no column {missing[0]!r} (columns: {_shown(table)})")
        chosen = list(features)
    else:
        chosen = [
            c for c in table.columns if c != target and pd.api.types.is_numeric_dtype(table[c])
        ]
    if target in chosen:
        raise JobError(f"the target {target!r} cannot also be a feature")
    text = [c for c in chosen if not pd.api.types.is_numeric_dtype(table[c])]
    if text:
        raise JobError(f"feature {text[0]!r} is not numeric; choose numeric columns")
    if not chosen:
        raise JobError("no numeric feature columns besides the target")
    y = table[target]
    keep = y.notna()
    return table.loc[keep, chosen].astype("float64"), y[keep], [str(c) for c in chosen]


def _shown(table: pd.DataFrame) -> str:
    names = [str(c) for c in table.columns[:20]]
    return ", ".join(names) + (", ..." if len(table.columns) > 20 else "")


def split_rows(
    labels: Any, validation_fraction: float, seed: int, *, stratify: bool
) -> tuple[Any, Any]:
    """Row positions of the training and validation parts, reproducible from the seed.

    Stratified on the labels for classification (when every class has two rows or more),
    so anyone can rebuild the validation part a job measured its metrics on.
    """
    import numpy as np
    from sklearn.model_selection import train_test_split

    positions = np.arange(len(labels))
    if len(positions) < 2:
        raise JobError("the dataset needs at least two rows to hold out a validation part")
    strata = None
    if stratify:
        _, counts = np.unique(np.asarray(labels).astype(str), return_counts=True)
        strata = np.asarray(labels).astype(str) if counts.min() >= 2 else None
    train, valid = train_test_split(
        positions, test_size=validation_fraction, random_state=seed, stratify=strata
    )
    return np.sort(train), np.sort(valid)
