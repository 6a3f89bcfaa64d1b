"""Model file checks: safe formats pass, code-running content needs trust, layouts are checked."""

from __future__ import annotations

import gzip
import io
import json
import pickle
import struct
import sys
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aiplayground.catalog.formats import check_model_files
from aiplayground.catalog.schemas import ModelFormat
from aiplayground.errors import MissingDependency, PermissionDenied, ValidationFailed


class Payload:
    """Stands for any pickled object; never unpickled by the checks."""


def write(folder: Path, name: str, data: bytes | str) -> tuple[str, Path]:
    path = folder / name.replace("/", "__")
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return name, path


def zip_bytes(members: Mapping[str, bytes | str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def check(fmt: ModelFormat, files: list[tuple[str, Path]], trusted: bool = False) -> dict[str, Any]:
    return check_model_files(fmt, files, trusted=trusted)


# sklearn --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def skops_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from skops.io import dump

    x, y = load_iris(return_X_y=True)
    path = tmp_path_factory.mktemp("skops") / "model.skops"
    dump(LogisticRegression(max_iter=300).fit(x, y), path)
    return path


def test_skops_model_is_accepted(skops_file: Path) -> None:
    found = check(ModelFormat.SKLEARN, [("model.skops", skops_file)])
    assert found == {"kind": "skops", "main": "model.skops", "untrusted_types": []}


def test_skops_with_untrusted_types_needs_trust(tmp_path: Path, skops_file: Path) -> None:
    with zipfile.ZipFile(skops_file) as source:
        members = {name: source.read(name) for name in source.namelist()}
    schema = json.loads(members["schema.json"])
    schema["__module__"], schema["__class__"] = "evil.module", "Backdoor"
    members["schema.json"] = json.dumps(schema).encode()
    files = [write(tmp_path, "model.skops", zip_bytes(members))]
    with pytest.raises(PermissionDenied, match=r"evil\.module\.Backdoor"):
        check(ModelFormat.SKLEARN, files)
    assert check(ModelFormat.SKLEARN, files, trusted=True)["untrusted_types"]


def test_zip_without_schema_is_not_skops(tmp_path: Path) -> None:
    files = [write(tmp_path, "model.skops", zip_bytes({"other.json": "{}"}))]
    with pytest.raises(ValidationFailed, match=r"no schema\.json"):
        check(ModelFormat.SKLEARN, files)


# pickles --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "name"),
    [
        (ModelFormat.PYTORCH, "model.pt"),
        (ModelFormat.HUGGINGFACE, "model.bin"),
        (ModelFormat.SKLEARN, "weights.joblib"),
        (ModelFormat.ONNX, "model.onnx"),
        (ModelFormat.SKLEARN, "innocent.txt"),
    ],
)
def test_pickles_under_any_name_need_trust(tmp_path: Path, fmt: ModelFormat, name: str) -> None:
    files = [write(tmp_path, name, pickle.dumps(Payload(), protocol=4))]
    if fmt is ModelFormat.HUGGINGFACE:
        files.append(write(tmp_path, "config.json", '{"model_type": "bert"}'))
    with pytest.raises(PermissionDenied) as caught:
        check(fmt, files)
    assert caught.value.message.startswith(f"{name} contains pickled Python objects")
    assert "ask an admin to mark this model trusted" in caught.value.message
    found = check(fmt, files, trusted=True)
    assert name in found["pickled"]


def test_trusted_pickle_is_reported_as_pickle(tmp_path: Path) -> None:
    files = [write(tmp_path, "weights.joblib", pickle.dumps({"a": 1}))]
    found = check(ModelFormat.SKLEARN, files, trusted=True)
    assert found == {"kind": "pickle", "main": "weights.joblib", "pickled": ["weights.joblib"]}


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("model.pt", zip_bytes({"archive/data.pkl": pickle.dumps(1), "archive/version": "3"})),
        ("model.bin", gzip.compress(pickle.dumps(Payload()))),
        ("arrays.npy", b""),
        ("bundle.zip", zip_bytes({"inner/blob": pickle.dumps(Payload())})),
    ],
)
def test_hidden_pickles_are_found(tmp_path: Path, name: str, data: bytes) -> None:
    if name.endswith(".npy"):
        buffer = io.BytesIO()
        np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
        data = buffer.getvalue()
    files = [write(tmp_path, name, data)]
    with pytest.raises(PermissionDenied, match="pickled"):
        check(ModelFormat.PYTORCH, files)


def test_pytorch_needs_trust_and_reports_torchscript(tmp_path: Path) -> None:
    data = zip_bytes(
        {"m/code/__torch__.py": "", "m/constants.pkl": pickle.dumps(()), "m/data.pkl": b""}
    )
    files = [write(tmp_path, "model.pt", data)]
    with pytest.raises(PermissionDenied):
        check(ModelFormat.PYTORCH, files)
    assert check(ModelFormat.PYTORCH, files, trusted=True)["kind"] == "torchscript"


# keras ----------------------------------------------------------------------------------


def keras_file(tmp_path: Path, layers: list[dict[str, Any]]) -> list[tuple[str, Path]]:
    config = {
        "module": "keras",
        "class_name": "Sequential",
        "config": {"name": "seq", "layers": layers},
        "registered_name": None,
    }
    data = zip_bytes({"config.json": json.dumps(config), "metadata.json": "{}"})
    return [write(tmp_path, "model.keras", data)]


DENSE = {"module": "keras.layers", "class_name": "Dense", "config": {"units": 2}}


def test_keras_with_builtin_layers_is_accepted(tmp_path: Path) -> None:
    found = check(ModelFormat.KERAS, keras_file(tmp_path, [DENSE]))
    assert found == {"kind": "keras", "main": "model.keras"}


@pytest.mark.parametrize(
    ("layer", "reason"),
    [
        ({"module": "keras.layers", "class_name": "Lambda", "config": {}}, "Lambda layer"),
        ({"module": "os", "class_name": "system", "config": {}}, "module 'os'"),
    ],
)
def test_keras_running_code_needs_trust(tmp_path: Path, layer: dict[str, Any], reason: str) -> None:
    files = keras_file(
        tmp_path,
        [DENSE, {"module": "keras.layers", "class_name": "Wrapper", "config": {"layer": layer}}],
    )
    with pytest.raises(PermissionDenied, match=reason):
        check(ModelFormat.KERAS, files)
    assert check(ModelFormat.KERAS, files, trusted=True)["kind"] == "keras"


# hugging face ---------------------------------------------------------------------------


def safetensors_bytes(header_pad: int = 0) -> bytes:
    """A one-tensor safetensors file, written by hand (8-byte length, JSON header, data)."""
    header = json.dumps({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
    header += b" " * header_pad
    return struct.pack("<Q", len(header)) + header + bytes(4)


def hf_folder(
    tmp_path: Path, config: dict[str, Any], extra: dict[str, bytes | str] | None = None
) -> list[tuple[str, Path]]:
    files = [
        write(tmp_path, "bert/config.json", json.dumps(config)),
        write(tmp_path, "bert/model.safetensors", safetensors_bytes()),
        write(tmp_path, "bert/tokenizer.json", "{}"),
    ]
    return files + [write(tmp_path, name, data) for name, data in (extra or {}).items()]


def test_hf_folder_with_safetensors_is_accepted(tmp_path: Path) -> None:
    found = check(
        ModelFormat.HUGGINGFACE,
        hf_folder(tmp_path, {"model_type": "bert", "architectures": ["BertModel"]}),
    )
    assert found == {
        "kind": "huggingface",
        "main": "bert",
        "weights": "safetensors",
        "model_type": "bert",
        "architectures": ["BertModel"],
    }


def test_safetensors_header_looking_like_a_pickle_is_not_one(tmp_path: Path) -> None:
    data = safetensors_bytes(header_pad=0x380 - (len(safetensors_bytes()) - 12))
    assert data.startswith(b"\x80\x03")  # the length field looks like pickle protocol 3
    files = [write(tmp_path, "config.json", "{}"), write(tmp_path, "model.safetensors", data)]
    assert check(ModelFormat.HUGGINGFACE, files)["weights"] == "safetensors"


def test_broken_safetensors_is_refused(tmp_path: Path) -> None:
    files = [write(tmp_path, "config.json", "{}"), write(tmp_path, "model.safetensors", b"x" * 20)]
    with pytest.raises(ValidationFailed, match="not a valid safetensors"):
        check(ModelFormat.HUGGINGFACE, files)


@pytest.mark.parametrize(
    ("config", "extra", "reason"),
    [
        ({"auto_map": {"AutoModel": "modeling.MyModel"}}, {}, "remote code"),
        ({}, {"bert/modeling.py": "import os"}, "Python code"),
        (
            {},
            {"bert/tokenizer_config.json": '{"auto_map": {"AutoTokenizer": ["x", null]}}'},
            "remote code",
        ),
        ({}, {"bert/tf_model.h5": b"\x89HDF\r\n"}, "safetensors"),
    ],
)
def test_hf_remote_code_or_unsafe_weights_need_trust(
    tmp_path: Path, config: dict[str, Any], extra: dict[str, Any], reason: str
) -> None:
    files = hf_folder(tmp_path, config, extra)
    with pytest.raises(PermissionDenied, match=reason):
        check(ModelFormat.HUGGINGFACE, files)
    assert check(ModelFormat.HUGGINGFACE, files, trusted=True)["main"] == "bert"


def test_hf_folder_needs_config_and_weights(tmp_path: Path) -> None:
    with pytest.raises(ValidationFailed, match=r"config\.json"):
        check(ModelFormat.HUGGINGFACE, [write(tmp_path, "README.md", "hi")])
    with pytest.raises(ValidationFailed, match="safetensors"):
        check(ModelFormat.HUGGINGFACE, [write(tmp_path, "config.json", "{}")])


# onnx -----------------------------------------------------------------------------------


def onnx_model(tmp_path: Path, location: str | None) -> list[tuple[str, Path]]:
    pytest.importorskip("onnx", reason="the onnx package builds the test models")
    from onnx import TensorProto, helper

    weights = helper.make_tensor("w", TensorProto.FLOAT, [2], [1.0, 2.0])
    if location is not None:
        weights.ClearField("float_data")
        weights.data_location = TensorProto.EXTERNAL
        for key, value in {"location": location, "offset": "0", "length": "8"}.items():
            entry = weights.external_data.add()
            entry.key, entry.value = key, value
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
        [weights],
    )
    model = helper.make_model(graph)
    return [write(tmp_path, "model/model.onnx", model.SerializeToString())]


def test_onnx_model_is_accepted(tmp_path: Path) -> None:
    found = check(ModelFormat.ONNX, onnx_model(tmp_path, None))
    assert found == {"kind": "onnx", "main": "model/model.onnx", "external_data": []}


def test_onnx_external_data_inside_the_upload_is_accepted(tmp_path: Path) -> None:
    files = [*onnx_model(tmp_path, "weights.bin"), write(tmp_path, "model/weights.bin", bytes(8))]
    assert check(ModelFormat.ONNX, files)["external_data"] == ["model/weights.bin"]


@pytest.mark.parametrize(
    "location", ["../../etc/passwd", "/etc/passwd", "..\\..\\etc\\passwd", "C:/x", "missing.bin"]
)
def test_onnx_external_data_outside_the_upload_is_refused(tmp_path: Path, location: str) -> None:
    files = [*onnx_model(tmp_path, location), write(tmp_path, "model/weights.bin", bytes(8))]
    with pytest.raises(ValidationFailed, match="external data"):
        check(ModelFormat.ONNX, files)


def test_onnx_external_data_past_the_end_is_refused(tmp_path: Path) -> None:
    files = [*onnx_model(tmp_path, "weights.bin"), write(tmp_path, "model/weights.bin", bytes(4))]
    with pytest.raises(ValidationFailed, match="past the end"):
        check(ModelFormat.ONNX, files)


def test_garbage_onnx_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationFailed, match="not a valid ONNX"):
        check(ModelFormat.ONNX, [write(tmp_path, "model.onnx", b"\xff\xff\xff\xffnot protobuf")])


# native formats -------------------------------------------------------------------------


def test_native_formats_are_recognised(tmp_path: Path) -> None:
    xgb = write(tmp_path, "model.json", '{"learner": {"attributes": {}}, "version": [2, 1, 0]}')
    lgb = write(tmp_path, "model.txt", "tree\nversion=v4\nnum_class=1\n")
    gguf = write(tmp_path, "tiny.gguf", b"GGUF" + struct.pack("<I", 3) + bytes(16))
    assert check(ModelFormat.XGBOOST, [xgb])["kind"] == "xgboost"
    assert check(ModelFormat.LIGHTGBM, [lgb]) == {"kind": "lightgbm", "main": "model.txt"}
    assert check(ModelFormat.GGUF, [gguf]) == {"kind": "gguf", "main": "tiny.gguf", "version": 3}


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        (ModelFormat.XGBOOST, ".json or .ubj"),
        (ModelFormat.LIGHTGBM, ".txt model file"),
        (ModelFormat.GGUF, ".gguf"),
        (ModelFormat.SKLEARN, ".skops"),
        (ModelFormat.KERAS, ".keras"),
        (ModelFormat.PYTORCH, ".pt"),
    ],
)
def test_files_fitting_no_layout_say_what_was_expected(
    tmp_path: Path, fmt: ModelFormat, expected: str
) -> None:
    with pytest.raises(ValidationFailed, match="expected") as caught:
        check(fmt, [write(tmp_path, "notes.md", "# just notes")])
    assert expected in caught.value.message
    assert "notes.md" in caught.value.message


def test_several_candidates_prefer_model_star(tmp_path: Path) -> None:
    files = [write(tmp_path, n, "tree\n") for n in ("a.txt", "model.txt")]
    assert check(ModelFormat.LIGHTGBM, files)["main"] == "model.txt"
    with pytest.raises(ValidationFailed, match="several"):
        check(ModelFormat.LIGHTGBM, [write(tmp_path, n, "tree\n") for n in ("a.txt", "b.txt")])


def test_pickle_named_npy_is_found(tmp_path: Path) -> None:
    # np.load(allow_pickle=True) unpickles a .npy that is not an array.
    with pytest.raises(PermissionDenied):
        check(ModelFormat.ONNX, [write(tmp_path, "x.npy", pickle.dumps([1]))])
    plain = io.BytesIO()
    np.save(plain, np.arange(3))
    files = [write(tmp_path, "x.npy", plain.getvalue()), *onnx_model(tmp_path, None)]
    assert check(ModelFormat.ONNX, files)["kind"] == "onnx"


def test_without_the_onnx_package_external_data_cannot_be_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "plain").mkdir()
    plain = onnx_model(tmp_path / "plain", None)
    external = onnx_model(tmp_path, "weights.bin")
    monkeypatch.setitem(sys.modules, "onnx", None)  # as if not installed
    assert check(ModelFormat.ONNX, plain)["kind"] == "onnx"
    with pytest.raises(MissingDependency, match="pip install onnx"):
        check(ModelFormat.ONNX, [*external, write(tmp_path, "model/weights.bin", bytes(8))])
