"""Inference on a ROOT file: the version's stored preprocessing, then the one data plane.

Predictions are computed chunk by chunk through `InferenceService.infer`, the same call
the REST, KServe and UI doors use, and come back per event with the tree entry of each
(events dropped by the preprocessing's cuts have no prediction).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import ValidationError

from aiplayground.errors import InvalidInput
from aiplayground.hep.preprocessing import Preprocessing
from aiplayground.hep.reader import DEFAULT_STEP, get_tree, open_root

if TYPE_CHECKING:
    from aiplayground.app import Platform
    from aiplayground.auth.principal import Principal

Format = Literal["json", "csv", "parquet", "root"]
FORMATS: tuple[Format, ...] = ("json", "csv", "parquet", "root")
MEDIA_TYPES = {
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
    "root": "application/octet-stream",
}
# Rows per inference request: well inside the data plane's element limits for ~10 features.
INFER_ROWS = 20_000


@dataclass
class Predictions:
    """One prediction per selected event, with its entry number in the tree.

    `prediction` holds one value per event, or one row per event for a vector output (the
    class probabilities of `predict_proba`); `output` names the model output it came from.
    """

    tree: str
    entries: np.ndarray[Any, Any]
    prediction: np.ndarray[Any, Any]
    model_name: str
    model_version: str
    output: str = ""

    def as_json(self) -> dict[str, Any]:
        """The JSON answer of the API."""
        return {
            "model_name": self.model_name,
            "model_version": self.model_version,
            "tree": self.tree,
            "output": self.output,
            "count": int(self.entries.size),
            "entries": self.entries.tolist(),
            "predictions": self.prediction.tolist(),
        }


def stored_preprocessing(params: dict[str, Any], model: str) -> Preprocessing:
    """The preprocessing a model version carries, or an InvalidInput saying it has none."""
    raw = params.get("preprocessing")
    if raw is None:
        raise InvalidInput(
            f"model {model!r} has no preprocessing in its version params, so it cannot take "
            "ROOT files; send feature rows instead"
        )
    try:
        return Preprocessing.model_validate(raw)
    except ValidationError as exc:
        raise InvalidInput(f"model {model!r} carries an invalid preprocessing: {exc}") from exc


async def predict_root(
    platform: Platform,
    caller: Principal,
    model_name: str,
    version: str | int | None,
    root_path: str | Path,
    tree: str | None = None,
    *,
    output: str | None = None,
    step_size: str | int = DEFAULT_STEP,
) -> Predictions:
    """Per-event predictions of a model version for the events of a ROOT file.

    `output` names the model output to return (`predict_proba` for class probabilities);
    None gives the model's default output.
    """
    from starlette.concurrency import run_in_threadpool

    from aiplayground.hep.transform import iter_features
    from aiplayground.inference.tensor import DTYPES, InferRequest, RequestedOutput, Tensor

    info, found = platform.models.resolve(caller, model_name, version)
    if found is None:
        raise InvalidInput(f"model {model_name!r} is a remote endpoint with no preprocessing")
    pre = stored_preprocessing(found.params, info.name)
    if tree:
        pre = pre.model_copy(update={"tree": tree})
    # The feature rows in the datatype the version's signature asks (FP32 for ONNX, XGBoost).
    inputs = found.signature.inputs if found.signature else []
    datatype = inputs[0].datatype if len(inputs) == 1 and inputs[0].datatype in DTYPES else "FP64"
    # Reading and feature building block: they run in a thread, one chunk at a time.
    chunks = iter_features(pre, root_path, step_size=step_size)
    entries: list[np.ndarray[Any, Any]] = []
    outputs: list[np.ndarray[Any, Any]] = []
    asked = [RequestedOutput(output)] if output else []
    name = output or ""
    while (chunk := await run_in_threadpool(next, chunks, None)) is not None:
        for start in range(0, chunk.matrix.shape[0], INFER_ROWS):
            rows = chunk.matrix[start : start + INFER_ROWS].astype(DTYPES[datatype])
            request = InferRequest(inputs=[Tensor("input-0", datatype, rows)], outputs=asked)
            response = await platform.inference.infer(caller, info.name, found.version, request)
            name = response.outputs[0].name
            outputs.append(np.asarray(response.outputs[0].data).reshape(rows.shape[0], -1))
        entries.append(chunk.entries)
    prediction = np.concatenate(outputs) if outputs else np.empty((0, 1))
    if prediction.shape[1] == 1:
        prediction = prediction[:, 0]
    return Predictions(
        tree=pre.tree,
        entries=np.concatenate(entries) if entries else np.empty(0, np.int64),
        prediction=prediction,
        model_name=info.name,
        model_version=str(found.version),
        output=name,
    )


def write_table(predictions: Predictions, out: Path, fmt: Literal["csv", "parquet"]) -> None:
    """Entry number and prediction(s) per event, as CSV or Parquet."""
    import pyarrow as pa

    columns: dict[str, Any] = {"entry": predictions.entries}
    values = predictions.prediction
    if values.ndim == 1:
        columns["prediction"] = values
    else:
        columns |= {f"prediction_{i}": values[:, i] for i in range(values.shape[1])}
    table = pa.table(columns)
    if fmt == "csv":
        import pyarrow.csv

        pyarrow.csv.write_csv(table, out)
    else:
        import pyarrow.parquet

        pyarrow.parquet.write_table(table, out)


def write_root(
    predictions: Predictions,
    source: str | Path,
    out: Path,
    branches: list[str] | None = None,
    *,
    step_size: str | int = DEFAULT_STEP,
) -> None:
    """A copy of the selected events' branches plus the predictions, as a new TTree.

    One value per event is a `prediction` branch; a vector per event (class probabilities)
    is `prediction_0`, `prediction_1`, ... `branches` defaults to every numeric branch of
    the tree; the tree is written with `mktree` then `extend`, chunk by chunk, so memory
    stays bounded by the step size.
    """
    import awkward as ak
    import uproot

    from aiplayground.hep.reader import branch_kind

    values = predictions.prediction
    if values.ndim == 1:
        columns = {"prediction": values}
    elif values.ndim == 2:
        columns = {
            f"prediction_{i}": np.ascontiguousarray(values[:, i]) for i in range(values.shape[1])
        }
    else:
        raise InvalidInput("a ROOT output takes one value or one vector of values per event")
    with open_root(source) as root:
        tree = get_tree(root, predictions.tree)
        if branches is None:
            branches = [b for b in tree.keys() if branch_kind(tree, b)[2]]  # noqa: SIM118 - iterating a tree yields branch objects
        chosen = set(branches)
        with uproot.recreate(out) as target:
            written = None
            position = 0
            for arrays, report in tree.iterate(
                filter_name=lambda n: n in chosen, step_size=step_size, library="ak", report=True
            ):
                stop = int(np.searchsorted(predictions.entries, report.tree_entry_stop))
                local = predictions.entries[position:stop] - report.tree_entry_start
                chunk = {name: arrays[name][local] for name in branches}
                chunk |= {name: column[position:stop] for name, column in columns.items()}
                position = stop
                if written is None:
                    types = {
                        name: ak.type(arr).content
                        for name, arr in chunk.items()
                        if name not in columns
                    }
                    types |= {name: column.dtype for name, column in columns.items()}
                    written = target.mktree(predictions.tree, types)
                written.extend(chunk)
