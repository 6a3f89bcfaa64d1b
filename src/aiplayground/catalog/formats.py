"""Model files: do they fit the declared format, and are they safe to load?

Only headers and small members are read; no model is ever loaded here. Pickles (under any
name, inside zips, compressed) can run code when loaded, so they need a trusted model.
"""

from __future__ import annotations

import bz2
import importlib
import json
import lzma
import posixpath
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from aiplayground.catalog.files import safe_relative_path
from aiplayground.catalog.schemas import ModelFormat
from aiplayground.catalog.skops_types import untrusted_beyond_numeric_stack
from aiplayground.errors import InvalidInput, MissingDependency, PermissionDenied, ValidationFailed

PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".dill")
TORCH_SUFFIXES = (".pt", ".pt2", ".pth", ".bin", ".ckpt")
HF_UNSAFE_WEIGHTS = (*TORCH_SUFFIXES, *PICKLE_SUFFIXES, ".h5", ".msgpack")
MAX_JSON_BYTES = 32 * 1024 * 1024
MAX_ZIP_MEMBERS = 10_000
MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024
COMPRESSED_PEEK = 1024 * 1024
HEAD = 4096  # enough for every magic number and header check below
# A zip member that is damaged, encrypted or compressed with an unsupported method.
_ZIP_READ_ERRORS = (zipfile.BadZipFile, NotImplementedError, RuntimeError, zlib.error, EOFError)


@dataclass
class _File:
    """One uploaded file, under the relative name it will be stored as."""

    name: str
    path: Path
    head: bytes

    @property
    def suffix(self) -> str:
        return posixpath.splitext(self.name)[1].lower()

    @property
    def base(self) -> str:
        return posixpath.basename(self.name)

    @property
    def is_zip(self) -> bool:
        return self.head.startswith((b"PK\x03\x04", b"PK\x05\x06"))


def check_model_files(
    format: ModelFormat, files: list[tuple[str, Path]], *, trusted: bool
) -> dict[str, Any]:
    """Check files against the declared format and refuse code-running content unless trusted."""
    if format is ModelFormat.REMOTE:
        raise InvalidInput("remote models have no files; register the endpoint instead")
    if not files:
        raise _invalid("a version needs at least one file")
    items = []
    for name, path in files:
        with path.open("rb") as stream:
            items.append(_File(safe_relative_path(name), path, stream.read(HEAD)))
    pickled = [f.name for f in items if _is_pickled(f)]
    if pickled and not trusted:
        raise _denied(
            pickled[0], "contains pickled Python objects", "convert it to skops/ONNX/safetensors"
        )
    try:
        found = _CHECKS[format](items, trusted)
    except ValidationFailed:
        if not pickled:
            raise
        found = {"kind": "pickle", "main": pickled[0]}
    if pickled:
        found["pickled"] = pickled[:20]
    return found


def _invalid(message: str) -> ValidationFailed:
    return ValidationFailed(message, details={"field": "file"})


def _denied(name: str, what: str, fix: str) -> PermissionDenied:
    return PermissionDenied(
        f"{name} {what}, which can run code when loaded; {fix}, or ask an admin to mark this "
        "model trusted",
        details={"file": name},
    )


def _unexpected(format: ModelFormat, items: list[_File], expected: str) -> ValidationFailed:
    names = ", ".join(f.name for f in items[:10]) + (" ..." if len(items) > 10 else "")
    return ValidationFailed(
        f"no {format.value} model found among the uploaded files ({names}): expected {expected}",
        details={"field": "file"},
    )


def _one(candidates: list[_File], what: str) -> _File:
    """The single file to load; with several, the one named model.*."""
    if len(candidates) == 1:
        return candidates[0]
    named = [f for f in candidates if posixpath.splitext(f.base)[0] == "model"]
    if len(named) == 1:
        return named[0]
    names = ", ".join(f.name for f in candidates[:10])
    raise _invalid(
        f"several {what} files ({names}); upload one model per version, or name the one to "
        "load model.*"
    )


# pickle detection -----------------------------------------------------------------------


def _pickle_magic(data: bytes) -> bool:
    return len(data) >= 2 and data[0] == 0x80 and 2 <= data[1] <= 5


def _is_pickled(f: _File) -> bool:
    if f.suffix in PICKLE_SUFFIXES:
        return True
    if f.suffix == ".safetensors" and _safetensors_tensors(f) is not None:
        return False  # a valid header can start with the bytes of a pickle protocol
    if f.head.startswith(b"\x93NUMPY"):
        with f.path.open("rb") as stream:
            return _npy_has_objects(stream)
    if f.is_zip:
        return _zip_pickled_member(f) is not None
    if _pickle_magic(f.head):
        return True
    return _pickle_magic(_decompressed_head(f))


def _npy_has_objects(stream: IO[bytes]) -> bool:
    """True when the array holds Python objects, which np.load can only unpickle."""
    try:
        version = np.lib.format.read_magic(stream)
        reader = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0
        )
        _, _, dtype = reader(stream)
    except ValueError:
        return False  # not a readable array: nothing np.load would unpickle either
    return bool(dtype.hasobject)


def _decompressed_head(f: _File) -> bytes:
    """The first bytes inside a gzip/zlib/xz/lzma/bz2 stream (joblib compresses pickles)."""
    head = f.head
    decompress: Callable[[bytes, int], bytes] | None = None
    if head.startswith(b"\x1f\x8b"):
        decompress = zlib.decompressobj(wbits=31).decompress
    elif len(head) >= 2 and head[0] == 0x78 and (head[0] * 256 + head[1]) % 31 == 0:
        decompress = zlib.decompressobj().decompress
    elif head.startswith(b"\xfd7zXZ\x00") or head.startswith(b"\x5d\x00\x00"):
        decompress = lzma.LZMADecompressor().decompress
    elif head.startswith(b"BZh"):
        decompress = bz2.BZ2Decompressor().decompress
    if decompress is None:
        return b""
    with f.path.open("rb") as stream:
        data = stream.read(COMPRESSED_PEEK)
    try:
        return decompress(data, 8)
    except (zlib.error, lzma.LZMAError, OSError, EOFError, ValueError):
        return b""


def _open_zip(f: _File) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(f.path)
    except (zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise _invalid(
            f"{f.name} looks like a zip file but is damaged ({exc}); upload it again"
        ) from exc


def _zip_members(f: _File, archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    infos = [i for i in archive.infolist() if not i.is_dir()]
    if len(infos) > MAX_ZIP_MEMBERS:
        raise _invalid(
            f"{f.name} is a zip with more than {MAX_ZIP_MEMBERS} members, too many to inspect; "
            "upload its contents with extraction on"
        )
    return infos


def _zip_pickled_member(f: _File) -> str | None:
    """The first member of a zip that would be unpickled (torch's data.pkl, object arrays)."""
    with _open_zip(f) as archive:
        for info in _zip_members(f, archive):
            lower = info.filename.lower()
            if lower.endswith(PICKLE_SUFFIXES):
                return info.filename
            if lower.endswith(".safetensors"):
                continue
            try:
                with archive.open(info) as member:
                    if lower.endswith(".npy"):
                        if _npy_has_objects(member):
                            return info.filename
                    elif _pickle_magic(member.read(2)):
                        return info.filename
            except _ZIP_READ_ERRORS as exc:
                raise _invalid(
                    f"{f.name}: member {info.filename!r} cannot be read ({exc}); upload the "
                    "file again, unencrypted"
                ) from exc
    return None


def _read_json(f: _File, archive: zipfile.ZipFile | None = None, member: str = "") -> Any:
    """A small JSON file, or a JSON member of a zip."""
    label = f"{f.name}: {member}" if archive else f.name
    try:
        with f.path.open("rb") if archive is None else archive.open(member) as stream:
            data = stream.read(MAX_JSON_BYTES + 1)
    except _ZIP_READ_ERRORS as exc:
        raise _invalid(f"{label} cannot be read ({exc})") from exc
    if len(data) > MAX_JSON_BYTES:
        raise _invalid(f"{label} is larger than {MAX_JSON_BYTES} bytes; configs are small")
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise _invalid(f"{label} is not valid JSON ({str(exc)[:200]})") from exc


# formats --------------------------------------------------------------------------------


def _sklearn(items: list[_File], trusted: bool) -> dict[str, Any]:
    candidates = [f for f in items if f.suffix == ".skops"]
    if not candidates:
        raise _unexpected(ModelFormat.SKLEARN, items, "a .skops file saved with skops.io.dump")
    main = _one(candidates, ".skops")
    if not main.is_zip:
        raise _invalid(f"{main.name} is not a skops file (it is not a zip)")
    with _open_zip(main) as archive:
        if "schema.json" not in archive.namelist():
            raise _invalid(f"{main.name} is not a skops file (no schema.json inside)")
        _read_json(main, archive, "schema.json")
    skops_io = importlib.import_module("skops.io")
    try:
        untrusted = list(skops_io.get_untrusted_types(file=main.path))
    except (KeyError, ValueError, TypeError, zipfile.BadZipFile) as exc:
        reason = str(exc).replace(str(main.path), main.name)[:300]
        raise _invalid(f"{main.name} is not a valid skops file ({reason})") from exc
    refused = untrusted_beyond_numeric_stack(untrusted)
    if refused and not trusted:
        raise _denied(
            main.name,
            f"needs types outside scikit-learn/numpy/scipy ({', '.join(refused[:10])})",
            "use standard scikit-learn estimators",
        )
    return {"kind": "skops", "main": main.name, "untrusted_types": untrusted}


def _onnx(items: list[_File], trusted: bool) -> dict[str, Any]:
    candidates = [f for f in items if f.suffix == ".onnx"]
    if not candidates:
        raise _unexpected(ModelFormat.ONNX, items, "a .onnx file")
    main = _one(candidates, ".onnx")
    names = {f.name: f for f in items}
    external: list[str] = []
    for model in candidates:
        external.extend(_onnx_external_data(model, names))
    return {"kind": "onnx", "main": main.name, "external_data": sorted(set(external))}


def _onnx_external_data(f: _File, names: dict[str, _File]) -> list[str]:
    """The external data files an ONNX model points at, each checked to be an uploaded file."""
    try:
        onnx = importlib.import_module("onnx")
    except ImportError:
        return _onnx_lenient(f)
    decode_error = importlib.import_module("google.protobuf.message").DecodeError
    try:
        model = onnx.load(str(f.path), load_external_data=False)
    except (decode_error, ValueError) as exc:
        reason = str(exc).replace(str(f.path), f.name)[:300]
        raise _invalid(
            f"{f.name} is not a valid ONNX model ({reason}); export it again with torch.onnx or "
            "skl2onnx"
        ) from exc
    folder = posixpath.dirname(f.name)
    found = []
    for tensor in _onnx_tensors(model):
        if tensor.data_location != 1:  # TensorProto.EXTERNAL
            continue
        entries = {e.key: e.value for e in tensor.external_data}
        location = entries.get("location", "")
        target = _confined(location, folder)
        if target is None or target not in names:
            raise ValidationFailed(
                f"{f.name}: tensor {tensor.name!r} points at external data {location!r}, which "
                "is not a plain relative path to an uploaded file; upload the data file next to "
                "the model and save it with a relative location",
                details={"field": "file", "location": location[:200]},
            )
        try:
            end = int(entries.get("offset") or 0) + int(entries.get("length") or 0)
        except ValueError as exc:
            raise _invalid(f"{f.name}: tensor {tensor.name!r} has a bad offset or length") from exc
        if end > names[target].path.stat().st_size:
            raise _invalid(f"{f.name}: tensor {tensor.name!r} reads past the end of {target}")
        found.append(target)
    return found


def _confined(location: str, folder: str) -> str | None:
    """The uploaded name a relative external-data location means, or None if it escapes."""
    if not location or "\\" in location or "\x00" in location or ":" in location:
        return None
    if location.startswith("/") or ".." in location.split("/"):
        return None
    return posixpath.normpath(posixpath.join(folder, location))


def _onnx_tensors(model: Any) -> Iterator[Any]:
    """Every tensor of a model: initializers and attributes, in subgraphs and functions too."""
    graphs = [model.graph]
    nodes = [node for function in model.functions for node in function.node]
    while graphs or nodes:
        if graphs:
            graph = graphs.pop()
            yield from graph.initializer
            for sparse in graph.sparse_initializer:
                yield sparse.values
                yield sparse.indices
            nodes.extend(graph.node)
            continue
        for attribute in nodes.pop().attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors
            for sparse in [*attribute.sparse_tensors, attribute.sparse_tensor]:
                yield sparse.values
                yield sparse.indices
            if attribute.HasField("g"):
                graphs.append(attribute.g)
            graphs.extend(attribute.graphs)


def _onnx_lenient(f: _File) -> list[str]:
    """Without the onnx package: a protobuf-looking header and no external data references."""
    first = f.head[:1]
    if not first or (first[0] >> 3) not in range(1, 26) or (first[0] & 7) not in (0, 2):
        raise _invalid(f"{f.name} does not look like an ONNX model")
    with f.path.open("rb") as stream:
        tail = b""
        while chunk := stream.read(1024 * 1024):
            if b"location" in tail + chunk:
                raise MissingDependency(
                    f"{f.name} may use external data, which needs the 'onnx' package to check; "
                    "pip install onnx, or save the model without external data"
                )
            tail = chunk[-8:]
    return []


def _xgboost(items: list[_File], trusted: bool) -> dict[str, Any]:
    candidates = [
        f
        for f in items
        if f.suffix in (".json", ".ubj")
        and f.head.lstrip().startswith(b"{")
        and b"learner" in f.head
    ]
    if not candidates:
        raise _unexpected(
            ModelFormat.XGBOOST, items, "a .json or .ubj file saved with Booster.save_model"
        )
    main = _one(candidates, "XGBoost model")
    return {"kind": "xgboost", "main": main.name, "encoding": main.suffix[1:]}


def _lightgbm(items: list[_File], trusted: bool) -> dict[str, Any]:
    candidates = [
        f for f in items if f.suffix == ".txt" and f.head.split(b"\n", 1)[0].strip() == b"tree"
    ]
    if not candidates:
        raise _unexpected(
            ModelFormat.LIGHTGBM, items, "a .txt model file saved with Booster.save_model"
        )
    return {"kind": "lightgbm", "main": _one(candidates, "LightGBM model").name}


def _keras(items: list[_File], trusted: bool) -> dict[str, Any]:
    candidates = [f for f in items if f.suffix == ".keras" and f.is_zip]
    if not candidates:
        raise _unexpected(ModelFormat.KERAS, items, "a .keras file saved with model.save")
    main = _one(candidates, ".keras")
    with _open_zip(main) as archive:
        if "config.json" not in archive.namelist():
            raise _invalid(f"{main.name} is not a Keras file (no config.json inside)")
        config = _read_json(main, archive, "config.json")
    if not trusted:
        problem = _keras_code(config)
        if problem:
            raise _denied(main.name, problem, "rebuild the model from built-in Keras layers")
    return {"kind": "keras", "main": main.name}


def _keras_code(config: Any) -> str | None:
    """Why a Keras config needs code outside Keras (a Lambda layer, a foreign module)."""
    stack = [config]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            if node.get("class_name") in ("Lambda", "__lambda__", "TFOpLambda"):
                return "has a Lambda layer"
            module = node.get("module")
            if isinstance(module, str) and module != "keras" and not module.startswith("keras."):
                return f"uses objects from the module {module[:100]!r}"
            stack.extend(node.values())
    return None


def _gguf(items: list[_File], trusted: bool) -> dict[str, Any]:
    candidates = sorted((f for f in items if f.head.startswith(b"GGUF")), key=lambda f: f.name)
    if not candidates:
        raise _unexpected(ModelFormat.GGUF, items, "a .gguf file (starting with GGUF)")
    main = candidates[0]
    return {"kind": "gguf", "main": main.name, "version": int.from_bytes(main.head[4:8], "little")}


def _huggingface(items: list[_File], trusted: bool) -> dict[str, Any]:
    def shallowest(name: str) -> list[_File]:
        return sorted((f for f in items if f.base == name), key=lambda f: f.name.count("/"))

    # A LoRA adapter (peft) has adapter_config.json instead; Chat loads it on a base model.
    configs = shallowest("config.json") or shallowest("adapter_config.json")
    if not configs:
        raise _unexpected(
            ModelFormat.HUGGINGFACE, items, "a folder with config.json (or adapter_config.json)"
        )
    folder = posixpath.dirname(configs[0].name)
    inside = [f for f in items if not folder or f.name.startswith(folder + "/")]
    config = _read_json(configs[0])
    if not trusted:
        _refuse_remote_code(inside, configs[0], config)
    safe = [f for f in inside if f.suffix == ".safetensors"]
    unsafe = [f for f in inside if f.suffix in HF_UNSAFE_WEIGHTS]
    if unsafe and not trusted:
        raise _denied(
            unsafe[0].name,
            "is not a .safetensors file (Hugging Face weights must be)",
            "convert the weights to safetensors",
        )
    for f in safe:
        if _safetensors_tensors(f) is None:
            raise _invalid(f"{f.name} is not a valid safetensors file")
    if not safe and not unsafe:
        raise _unexpected(
            ModelFormat.HUGGINGFACE, items, "*.safetensors weights next to config.json"
        )
    found: dict[str, Any] = {
        "kind": "huggingface",
        "main": folder or ".",
        "weights": "safetensors" if safe and not unsafe else "pickle",
    }
    if isinstance(config, dict):
        if configs[0].base == "adapter_config.json":
            found["adapter"] = str(config.get("peft_type") or "unknown")[:100]
        if isinstance(config.get("model_type"), str):
            found["model_type"] = config["model_type"][:100]
        if isinstance(config.get("architectures"), list):
            found["architectures"] = [str(a)[:100] for a in config["architectures"][:8]]
    return found


def _refuse_remote_code(inside: list[_File], main_config: _File, config: Any) -> None:
    """Refuse Python files and configs that need trust_remote_code."""
    for f in inside:
        if f.suffix == ".py":
            raise _denied(f.name, "is Python code", "use a model built into transformers")
        if not f.base.endswith("config.json"):
            continue
        data = config if f is main_config else _read_json(f)
        if isinstance(data, dict) and (data.get("auto_map") or data.get("trust_remote_code")):
            raise _denied(
                f.name,
                "asks for remote code (auto_map/trust_remote_code)",
                "use a model built into transformers",
            )


def _safetensors_tensors(f: _File) -> int | None:
    """The number of tensors in a well-formed safetensors file, else None."""
    if len(f.head) < 8:
        return None
    size = int.from_bytes(f.head[:8], "little")
    total = f.path.stat().st_size
    if size > MAX_SAFETENSORS_HEADER or size + 8 > total:
        return None
    with f.path.open("rb") as stream:
        stream.seek(8)
        try:
            header = json.loads(stream.read(size))
        except (ValueError, RecursionError):
            return None
    if not isinstance(header, dict):
        return None
    data_size = total - 8 - size
    tensors = 0
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if not (
            isinstance(offsets, list)
            and len(offsets) == 2
            and all(isinstance(o, int) for o in offsets)
            and 0 <= offsets[0] <= offsets[1] <= data_size
        ):
            return None
        tensors += 1
    return tensors


def _pytorch(items: list[_File], trusted: bool) -> dict[str, Any]:
    candidates = [f for f in items if f.suffix in TORCH_SUFFIXES]
    if not candidates:
        raise _unexpected(
            ModelFormat.PYTORCH, items, "a .pt/.pt2 file (TorchScript or torch.export)"
        )
    main = _one(candidates, "PyTorch")
    if not trusted:
        raise _denied(main.name, "is a PyTorch file", "export the model to ONNX")
    kind = "pickle"
    if main.is_zip:
        with _open_zip(main) as archive:
            names = archive.namelist()
        if any(n.endswith("serialized_exported_program.json") for n in names):
            kind = "torch-export"
        elif any("/code/" in f"/{n}" or n.endswith("constants.pkl") for n in names):
            kind = "torchscript"
    return {"kind": kind, "main": main.name}


_CHECKS: dict[ModelFormat, Callable[[list[_File], bool], dict[str, Any]]] = {
    ModelFormat.SKLEARN: _sklearn,
    ModelFormat.ONNX: _onnx,
    ModelFormat.XGBOOST: _xgboost,
    ModelFormat.LIGHTGBM: _lightgbm,
    ModelFormat.KERAS: _keras,
    ModelFormat.GGUF: _gguf,
    ModelFormat.HUGGINGFACE: _huggingface,
    ModelFormat.PYTORCH: _pytorch,
}
