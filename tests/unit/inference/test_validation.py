"""Signature checks, the worker wire format, version folders and the skops trust filter."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from aiplayground.catalog.schemas import FileEntry, Signature
from aiplayground.catalog.skops_types import untrusted_beyond_numeric_stack
from aiplayground.errors import InvalidInput
from aiplayground.inference.files import materialize
from aiplayground.inference.runtimes import LoadSpec, load_runtime
from aiplayground.inference.tensor import InferRequest, Tensor
from aiplayground.inference.validation import validate_request
from aiplayground.inference.wire import PREFIX, pack, unpack
from aiplayground.settings import StorageSettings
from aiplayground.storage import open_artifact_store

SIG = Signature.model_validate(
    {
        "inputs": [{"name": "features", "datatype": "FP32", "shape": [-1, 3]}],
        "outputs": [{"name": "label", "datatype": "INT64", "shape": [-1]}],
    }
)


def request(
    array: np.ndarray, datatype: str, *, typed: bool = True, name: str = "input-0"
) -> InferRequest:
    return InferRequest(inputs=[Tensor(name, datatype, array)], typed=typed)


def test_lone_input_takes_the_signature_name() -> None:
    r = request(np.ones((2, 3), dtype=np.float32), "FP32")
    validate_request(r, SIG, allow_nan=False)
    assert r.inputs[0].name == "features"


@pytest.mark.parametrize(
    ("array", "datatype", "message"),
    [
        (np.ones((2, 4), dtype=np.float32), "FP32", "shape"),
        (np.ones((3,), dtype=np.float32), "FP32", "shape"),
        (np.ones((2, 3)), "FP64", "datatype"),
        (np.array([[1.0, np.nan, 2.0]], dtype=np.float32), "FP32", "NaN"),
        (np.array([[1.0, np.inf, 2.0]], dtype=np.float32), "FP32", "NaN"),
    ],
)
def test_signature_refusals(array: np.ndarray, datatype: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        validate_request(request(array, datatype), SIG, allow_nan=False)


def test_nan_allowed_where_the_model_handles_missing_values() -> None:
    validate_request(
        request(np.array([[np.nan, 1, 2]], dtype=np.float32), "FP32"), SIG, allow_nan=True
    )


def test_untyped_v1_inputs_are_cast_to_the_signature() -> None:
    r = request(np.array([[1, 2, 3]]), "INT64", typed=False)
    validate_request(r, SIG, allow_nan=False)
    assert r.inputs[0].datatype == "FP32"
    assert r.inputs[0].data.dtype == np.float32
    with pytest.raises(InvalidInput):
        validate_request(
            request(np.array([["a", "b", "c"]], dtype=object), "BYTES", typed=False),
            SIG,
            allow_nan=False,
        )


def test_named_inputs_must_match() -> None:
    two = InferRequest(
        inputs=[
            Tensor("a", "FP32", np.ones((1, 3), np.float32)),
            Tensor("b", "FP32", np.ones((1, 3), np.float32)),
        ]
    )
    with pytest.raises(InvalidInput, match="unknown input"):
        validate_request(two, SIG, allow_nan=False)


def test_wire_frames_roundtrip_without_pickle() -> None:
    tensors = [
        Tensor("x", "FP16", np.ones((2, 2), np.float16)),
        Tensor("w", "BYTES", np.array(["a", b"b"], dtype=object)),
    ]
    buffers = pack({"op": "infer", "id": 3}, tensors)
    frame = b"".join(bytes(b) for b in buffers)
    head_len, payload_len = PREFIX.unpack(frame[: PREFIX.size])
    header, decoded = unpack(
        frame[PREFIX.size : PREFIX.size + head_len], frame[PREFIX.size + head_len :]
    )
    assert header == {"op": "infer", "id": 3}
    np.testing.assert_array_equal(decoded[0].data, tensors[0].data)
    assert decoded[1].data.tolist() == [b"a", b"b"]
    assert payload_len == 8 + 4 + 1 + 4 + 1


def test_skops_trust_filter() -> None:
    assert untrusted_beyond_numeric_stack(["sklearn.tree._tree.Tree", "numpy.dtype"]) == []
    assert untrusted_beyond_numeric_stack(["os._exit", "builtins.eval"]) == [
        "os._exit",
        "builtins.eval",
    ]
    assert untrusted_beyond_numeric_stack(["numpy.load", "numpy.testing.x"]) == [
        "numpy.load",
        "numpy.testing.x",
    ]


def test_materialize_lays_out_a_version_and_refuses_escapes(tmp_path: Path) -> None:
    store = open_artifact_store((tmp_path / "artifacts").as_uri(), StorageSettings())
    info = store.put_bytes(store.new_key("models"), b"weights")
    entry = FileEntry(path="sub/model.bin", key=info.key, size=info.size, sha256=info.sha256)
    folder = materialize(store, [entry], tmp_path / "cache" / "m" / "v1")
    assert (folder / "sub" / "model.bin").read_bytes() == b"weights"
    assert materialize(store, [entry], folder) == folder
    for bad in ("../x", "/etc/x", "a/../../x", "a\\b"):
        evil = entry.model_copy(update={"path": bad})
        with pytest.raises(InvalidInput):
            materialize(store, [evil], tmp_path / "cache" / "m" / "evil")


def test_unknown_format_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="sklearn, xgboost"):
        load_runtime(tmp_path, LoadSpec(name="m", format="gguf"))
