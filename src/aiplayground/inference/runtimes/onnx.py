"""ONNX models on ONNX Runtime (CPU), with external data confined to the version's folder."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from aiplayground.errors import InvalidInput, require_extra
from aiplayground.inference.runtimes import Arrays, LoadSpec
from aiplayground.inference.runtimes.base import pick_file, spec

# ONNX element types -> Open Inference Protocol datatypes
ONNX_TYPES = {
    "tensor(bool)": "BOOL",
    "tensor(uint8)": "UINT8",
    "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32",
    "tensor(uint64)": "UINT64",
    "tensor(int8)": "INT8",
    "tensor(int16)": "INT16",
    "tensor(int32)": "INT32",
    "tensor(int64)": "INT64",
    "tensor(float16)": "FP16",
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
    "tensor(string)": "BYTES",
}
NUMPY_TYPES = {
    "BOOL": np.bool_,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
}


def check_external_data(path: Path) -> None:
    """Refuse a model whose external tensor data lies outside its own folder."""
    onnx = require_extra("onnx", "onnx")
    proto = onnx.load(str(path), load_external_data=False)
    root = path.parent.resolve()
    for tensor in onnx.external_data_helper._get_all_tensors(proto):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        location = next((e.value for e in tensor.external_data if e.key == "location"), "")
        target = (root / location).resolve()
        if not location or Path(location).is_absolute() or not target.is_relative_to(root):
            raise InvalidInput(f"ONNX external data {location!r} lies outside the model's folder")


def load(directory: Path, load_spec: LoadSpec) -> OnnxRuntime:
    """Open an inference session on the version's .onnx file."""
    ort = require_extra("onnxruntime", "onnx")
    path = pick_file(directory, (".onnx",), load_spec)
    check_external_data(path)
    options = ort.SessionOptions()
    options.intra_op_num_threads = load_spec.threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return OnnxRuntime(session)


class OnnxRuntime:
    """Inputs and outputs are the graph's own, by name; every output by default."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.inputs = [
            (i.name, ONNX_TYPES.get(i.type, "FP32"), i.shape) for i in session.get_inputs()
        ]
        self.outputs = [
            (o.name, ONNX_TYPES.get(o.type, "BYTES"), o.shape) for o in session.get_outputs()
        ]

    def metadata(self) -> dict[str, list[dict[str, Any]]]:
        """The graph's inputs and outputs; symbolic dimensions are -1."""
        return {
            "inputs": [spec(n, t, _dims(s)) for n, t, s in self.inputs],
            "outputs": [spec(n, t, _dims(s)) for n, t, s in self.outputs],
        }

    def defaults(self) -> list[str]:
        """Every output of the graph."""
        return [name for name, _, _ in self.outputs]

    def predict(
        self, inputs: Arrays, outputs: Sequence[str], parameters: Mapping[str, Any]
    ) -> Arrays:
        """Feed inputs by name (a lone input feeds a one-input graph whatever its name)."""
        if len(self.inputs) == 1 and len(inputs) == 1:
            arrays = list(inputs.values())
        else:
            missing = [n for n, _, _ in self.inputs if n not in inputs]
            if missing:
                raise InvalidInput(f"missing input {missing[0]!r}")
            arrays = [inputs[n] for n, _, _ in self.inputs]
        feed = {}
        for (name, datatype, _), array in zip(self.inputs, arrays, strict=True):
            want = NUMPY_TYPES.get(datatype)
            feed[name] = array.astype(want, copy=False) if want is not None else array
        results = self.session.run(list(outputs), feed)
        return {name: _to_array(value) for name, value in zip(outputs, results, strict=True)}


def _dims(shape: Any) -> list[int]:
    return [d if isinstance(d, int) else -1 for d in (shape or [])]


def _to_array(value: Any) -> np.ndarray[Any, Any]:
    if isinstance(value, list) and value and isinstance(value[0], dict):
        # A ZipMap output (sklearn converters' default): one {class: probability} per row.
        keys = sorted(value[0])
        return np.asarray([[row[k] for k in keys] for row in value])
    return np.asarray(value)
