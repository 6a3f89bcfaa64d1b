"""Dataset loaders for recipes: one function per table format, plus ROOT.

CSV and Parquet load as a table (`TABLE_LOADERS`). ROOT files are not tables: `load_root`
runs them through a HEP `Preprocessing` chunk by chunk (`uproot` iteration, so memory for
the raw, jagged events is bounded by the chunk size) and hands the recipes a fixed-width
float32 feature matrix, the labels, and the preprocessing that the model version stores,
so that inference on a ROOT file applies the same steps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Self

import numpy as np
from pydantic import Field, PlainSerializer, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from aiplayground.errors import PlaygroundError
from aiplayground.hep.preprocessing import BranchFeature, Preprocessing
from aiplayground.hep.transform import iter_features
from aiplayground.training.recipes.base import JobError, RecipeParams, SafeText

if TYPE_CHECKING:
    import pandas as pd

    from aiplayground.training.context import JobContext

TableLoader = Callable[[list[Path]], "pd.DataFrame"]

CSV_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")
ROOT_SUFFIXES = (".root",)
Label = int | SafeText

# Parameters every recipe that takes ROOT datasets offers (the same words in every form).
TreeParam = Annotated[
    SafeText | None,
    Field(
        description="ROOT datasets: the TTree or RNTuple to read (empty: the one named in "
        "the preprocessing, else the first tree of the first file)."
    ),
]


def _as_given(pre: Preprocessing) -> dict[str, Any]:
    # Only what the user set: a job's stored parameters are validated again in the job, and
    # a `tree` left out must stay left out there (the file's first tree is then used).
    given: dict[str, Any] = pre.model_dump(mode="json", exclude_unset=True)
    return given


PreprocessingParam = Annotated[
    Preprocessing | None,
    PlainSerializer(_as_given, when_used="unless-none"),
    Field(
        description="ROOT datasets: the HEP preprocessing (cuts, collections, pad/aggregate/"
        "mass features, derived pt/eta/phi/mass) that turns events into feature rows; it is "
        "saved with the model so inference on ROOT files applies it again. Empty: every flat "
        "numeric branch (or the branches listed in `features`); jagged branches need one."
    ),
]
LabelByFileParam = Annotated[
    dict[SafeText, Label] | None,
    Field(
        max_length=1000,
        description="ROOT datasets: one class per file instead of a target branch, as "
        '{"file name in the dataset": label}, e.g. signal 1 and background 0. Files not '
        "listed are not used.",
    ),
]
ChunkParam = Annotated[
    float,
    Field(
        gt=0,
        le=4096,
        description="ROOT datasets: megabytes of branch data read per chunk; bounds the "
        "memory for raw events whatever the file size.",
    ),
]
DEFAULT_CHUNK_MB = 50.0


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
        codes = label_codes(labels)
        strata = codes if np.bincount(codes).min() >= 2 else None
    train, valid = train_test_split(
        positions, test_size=validation_fraction, random_state=seed, stratify=strata
    )
    return np.sort(train), np.sort(valid)


def label_texts(labels: Any) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """The texts of the distinct labels, and each row's position among them.

    One sort of the raw values and one str() per distinct value, rather than a text per
    row: seconds saved on a million rows. Two values may share a text (1 and "1" in an
    object column); callers that need classes merge them by text.
    """
    values = np.asarray(labels)
    try:
        distinct, inverse = np.unique(values, return_inverse=True)
    except TypeError:  # mixed types numpy cannot order
        distinct, inverse = np.unique(values.astype(str), return_inverse=True)
    return np.array([str(v) for v in distinct]), inverse.reshape(-1)


def label_codes(labels: Any) -> np.ndarray[Any, Any]:
    """Each label's rank among the distinct label texts (the classes in text order).

    Stratifying on these codes splits exactly as stratifying on the texts would (scikit-learn
    orders the strata the same way).
    """
    texts, inverse = label_texts(labels)
    # Values with the same text (1 and "1" in an object column) are one class, as before.
    _, rank = np.unique(texts, return_inverse=True)
    return np.asarray(rank.reshape(-1)[inverse], dtype=np.int64)


# ROOT ---------------------------------------------------------------------------------------


def check_label_source(
    model: str,
    target: str | None,
    label_by_file: dict[str, Label] | None,
    features: list[str] | None,
    preprocessing: Preprocessing | None,
) -> None:
    """Exactly one label source, and features from one place (a 422 naming the field)."""
    if target is None and not label_by_file:
        refuse_field(model, "target", "give a `target` (a column or branch) or `label_by_file`")
    if target is not None and label_by_file:
        refuse_field(model, "label_by_file", "give either `target` or `label_by_file`, not both")
    if features and preprocessing is not None:
        refuse_field(model, "preprocessing", "give `features` or a `preprocessing`, not both")


def refuse_field(model: str, field: str, message: str) -> None:
    """A validation error at `field`, raised from a model validator of `model`."""
    # A model validator's own ValueError has no location; this one names the field, so the
    # API and the form put the message where it belongs.
    error = PydanticCustomError("value_error", message)
    raise ValidationError.from_exception_data(
        model, [InitErrorDetails(type=error, loc=(field,), input=None)]
    )


def refuse_root_options(fmt: str, *, tree: str | None, preprocessing: Any, labels: Any) -> None:
    """ROOT-only parameters on a table dataset are a mistake worth saying, not ignoring."""
    given = [
        name
        for name, value in (
            ("tree", tree),
            ("preprocessing", preprocessing),
            ("label_by_file", labels),
        )
        if value
    ]
    if given:
        raise JobError(f"{', '.join(given)} only apply to ROOT datasets; this one is {fmt}")


@dataclass
class RootData:
    """A ROOT dataset as training data: float32 feature rows, one label per row."""

    x: np.ndarray[Any, Any]
    y: np.ndarray[Any, Any]
    preprocessing: Preprocessing
    events: dict[str, int] = field(default_factory=dict)

    @property
    def feature_names(self) -> list[str]:
        """The matrix columns, in order."""
        return self.preprocessing.feature_names()

    def details(self) -> dict[str, Any]:
        """What the model version keeps so that `predict-root` applies the same steps."""
        return {
            "preprocessing": self.preprocessing.model_dump(mode="json"),
            "feature_names": self.feature_names,
            "events": self.events,
        }


@contextmanager
def _reading(path: Path) -> Iterator[None]:
    """A platform error from the HEP readers (bad file, tree, branch) as the job's error."""
    try:
        yield
    except PlaygroundError as exc:
        message = exc.message
        raise JobError(message if path.name in message else f"{path.name}: {message}") from exc


def load_root(
    files: list[Path],
    *,
    tree: str | None = None,
    preprocessing: Preprocessing | None = None,
    target: str | None = None,
    label_by_file: dict[str, Label] | None = None,
    features: list[str] | None = None,
    chunk_mb: float = DEFAULT_CHUNK_MB,
    log: Callable[[str], None] = print,
) -> RootData:
    """The dataset's events through the preprocessing, read in chunks of `chunk_mb`.

    Labels come from the flat branch `target` (read in the same pass) or from
    `label_by_file`. The raw arrays are never all in memory; the feature matrix is: it
    is preallocated once as float32 (entries x features), so its size is known up front.
    """
    chosen = _labelled_files(files, label_by_file)
    first = chosen[0][0]
    unused = [p.name for p in files if p not in {path for path, _ in chosen}]
    if label_by_file and unused:
        log(f"not in label_by_file, so not used: {_few(unused)}")
    name = tree or (
        preprocessing.tree
        if preprocessing is not None and "tree" in preprocessing.model_fields_set
        else _first_tree(first)
    )
    pre = _resolve_preprocessing(chosen, name, preprocessing, target, features, log)
    entries = {path: _check_tree(path, name, target) for path, _ in chosen}
    total = sum(entries.values())
    width = len(pre.feature_names())
    matrix = np.empty((total, width), dtype=np.float32)
    labels: list[np.ndarray[Any, Any]] = []
    rows = 0
    events: dict[str, int] = {}
    step = f"{chunk_mb:g} MB"
    for path, label in chosen:
        start = rows
        carry = [target] if target else []
        with _reading(path):
            for chunk in iter_features(pre, path, step_size=step, carry=carry):
                n = chunk.matrix.shape[0]
                matrix[rows : rows + n] = chunk.matrix
                rows += n
                if target:
                    labels.append(chunk.carried[target])
                else:
                    labels.append(np.full(n, label))
        events[path.name] = rows - start
        log(f"{path.name}: {rows - start} of {entries[path]} events kept")
    if rows == 0:
        raise JobError("no events passed the preprocessing's cuts: nothing to train on")
    y = _label_array(labels)
    log(f"{rows} events x {width} features from {len(chosen)} ROOT file(s), tree {name!r}")
    return RootData(matrix[:rows], y, pre, events)


def _labelled_files(
    files: list[Path], label_by_file: dict[str, Label] | None
) -> list[tuple[Path, Label | None]]:
    """The ROOT files to read, each with its label when labels come per file."""
    roots = _matching(files, ROOT_SUFFIXES, "ROOT")
    if not label_by_file:
        return [(path, None) for path in roots]
    chosen: list[tuple[Path, Label | None]] = []
    for key, label in label_by_file.items():
        found = [p for p in roots if p.as_posix() == key or p.as_posix().endswith("/" + key)]
        if not found:
            names = ", ".join(p.name for p in roots)
            raise JobError(
                f"label_by_file names {key!r}, which is not a ROOT file of the dataset "
                f"(its files: {names})"
            )
        if len(found) > 1:
            raise JobError(f"label_by_file: {key!r} matches several files; give its folder too")
        chosen.append((found[0], label))
    if len({str(label) for _, label in chosen}) < 2:
        raise JobError("label_by_file gives a single class; a classifier needs two or more")
    return chosen


def _first_tree(path: Path) -> str:
    from aiplayground.hep.reader import open_root, tree_names

    with _reading(path), open_root(path) as root:
        names = tree_names(root)
    if not names:
        raise JobError(f"{path.name} has no TTree or RNTuple")
    return names[0]


def _check_tree(path: Path, name: str, target: str | None) -> int:
    """The tree's entry count, after checking it exists and that the target is usable."""
    from aiplayground.hep.reader import branch_kind, check_branches, get_tree, open_root

    with _reading(path), open_root(path) as root:
        tree = get_tree(root, name)
        if target:
            check_branches(tree, {target})
            kind, jagged, numeric = branch_kind(tree, target)
            if jagged or not numeric:
                raise JobError(
                    f"the target branch {target!r} is {kind}; it must hold one number per event"
                )
        return int(tree.num_entries)


def _resolve_preprocessing(
    chosen: list[tuple[Path, Label | None]],
    tree: str,
    given: Preprocessing | None,
    target: str | None,
    features: list[str] | None,
    log: Callable[[str], None],
) -> Preprocessing:
    """The given preprocessing on `tree`, or one of flat numeric branches (all, or `features`)."""
    if given is not None:
        branches = {f.branch for f in given.features if isinstance(f, BranchFeature)}
        if target in branches:
            raise JobError(f"the target {target!r} cannot also be a feature")
        return given.model_copy(update={"tree": tree})
    flat, jagged, seen = _flat_numeric(chosen, tree)
    if features:
        if target in features:
            raise JobError(f"the target {target!r} cannot also be a feature")
        for name in features:
            lacking = [file for file, branches in seen.items() if name not in branches]
            if lacking:
                raise JobError(
                    f"{lacking[0]}: tree {tree!r} has no branch {name!r}; "
                    f"flat numeric branches of every file: {_few(flat)}"
                )
            if name in jagged:
                raise JobError(
                    f"feature {name!r} is a jagged branch: a preprocessing with pad or "
                    "aggregate features turns it into columns"
                )
            if name not in flat:
                raise JobError(f"feature {name!r} is not a numeric branch")
        names = list(features)
    else:
        names = [b for b in flat if b != target]
        if jagged:
            log(
                f"jagged branches left out ({_few(jagged)}): a preprocessing with pad or "
                "aggregate features turns them into columns"
            )
    if not names:
        raise JobError(
            "the files share no flat numeric branch to use as a feature; give a preprocessing"
        )
    return Preprocessing(tree=tree, features=[BranchFeature(branch=b) for b in names])


def _flat_numeric(
    chosen: list[tuple[Path, Label | None]], tree: str
) -> tuple[list[str], set[str], dict[str, set[str]]]:
    """Flat numeric branches of every file (first file's order), jagged ones, and each
    file's branch names."""
    from aiplayground.hep.reader import branch_kind, get_tree, open_root

    common: list[str] | None = None
    jagged: set[str] = set()
    seen: dict[str, set[str]] = {}
    for path, _ in chosen:
        with _reading(path), open_root(path) as root:
            handle = get_tree(root, tree)
            kinds = {b: branch_kind(handle, b) for b in handle.keys()}  # noqa: SIM118
        flat = [b for b, (_, is_jagged, numeric) in kinds.items() if numeric and not is_jagged]
        jagged |= {b for b, (_, is_jagged, numeric) in kinds.items() if numeric and is_jagged}
        common = flat if common is None else [b for b in common if b in set(flat)]
        seen[path.name] = set(kinds)
    return common or [], jagged, seen


def _few(names: Any) -> str:
    shown = sorted(names) if isinstance(names, set) else list(names)
    return ", ".join(shown[:20]) + (", ..." if len(shown) > 20 else "")


def _label_array(parts: list[np.ndarray[Any, Any]]) -> np.ndarray[Any, Any]:
    """One label array: numbers stay numbers; any text label makes every label text."""
    if any(p.dtype.kind in "OUS" for p in parts):
        return np.concatenate([p.astype(str) for p in parts])
    return np.concatenate(parts)


# What the table-and-ROOT recipes share ---------------------------------------------------


class DataParams(RecipeParams):
    """The data part of a recipe's parameters: columns of a table, or a ROOT tree's events
    through a preprocessing, with labels from a column/branch or one per file."""

    target: SafeText | None = Field(
        None, description="Column (or ROOT branch) to predict; required unless label_by_file."
    )
    features: list[SafeText] | None = Field(
        None,
        max_length=10_000,
        description="Feature columns or flat ROOT branches (empty: every numeric one).",
    )
    tree: TreeParam = None
    preprocessing: PreprocessingParam = None
    label_by_file: LabelByFileParam = None
    chunk_mb: ChunkParam = DEFAULT_CHUNK_MB

    @model_validator(mode="after")
    def _label_source(self) -> Self:
        check_label_source(
            type(self).__name__, self.target, self.label_by_file, self.features, self.preprocessing
        )
        return self

    def predicted(self) -> str:
        """What the model predicts, for its description."""
        if self.label_by_file:
            return "the file label (" + ", ".join(sorted(map(str, self.label_by_file))) + ")"
        return repr(self.target)


def load_training_data(
    ctx: JobContext, params: DataParams, dtype: Any = None
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], list[str], dict[str, Any]]:
    """Features, labels, feature names, and what the version keeps besides (ROOT: the steps).

    A ROOT dataset is read through its preprocessing chunk by chunk; the feature matrix is
    then held in memory (float32, events x features), as a table's is. `dtype` converts
    the features (None: float32 for ROOT, the table's own numeric type otherwise).
    """
    if ctx.spec.dataset is None:
        raise JobError("this recipe needs a dataset")
    fmt = ctx.spec.dataset.format
    if fmt == "root":
        data = load_root(
            ctx.data_files(),
            tree=params.tree,
            preprocessing=params.preprocessing,
            target=params.target,
            label_by_file=params.label_by_file,
            features=params.features,
            chunk_mb=params.chunk_mb,
            log=ctx.log,
        )
        x = data.x if dtype is None else data.x.astype(dtype, copy=False)
        return x, data.y, data.feature_names, data.details()
    refuse_root_options(
        fmt, tree=params.tree, preprocessing=params.preprocessing, labels=params.label_by_file
    )
    if params.target is None:
        raise JobError("give the `target` column to predict")
    table = load_table(fmt, ctx.data_files())
    x, y, features = select_columns(table, params.target, params.features)
    return x.to_numpy(dtype=dtype), np.asarray(y), features, {}
