"""Typed tensors, inference requests and responses: the protocol-neutral vocabulary.

Numeric tensors are numpy arrays decoded in one vectorized call (never a Python loop per
element); BYTES tensors are object arrays of `bytes` or `str`.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from aiplayground.errors import InvalidInput

# Little-endian explicitly: the v2 binary extension and the worker wire are little-endian.
DTYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype("?"),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
    "BYTES": np.dtype("O"),
}
DATATYPES = tuple(DTYPES)
MAX_DIMS = 32
# Which kinds numpy infers from JSON values each datatype accepts: ints fit float tensors,
# but strings, floats-in-int-tensors and bools-as-numbers are refused rather than coerced.
_ACCEPTED_KINDS = {"b": "b", "u": "iu", "i": "iu", "f": "iuf"}
_LENGTH = struct.Struct("<I")


@dataclass
class Tensor:
    """A named, typed, shaped array."""

    name: str
    datatype: str
    data: np.ndarray[Any, Any]
    parameters: dict[str, Any] = field(default_factory=dict)

    @property
    def shape(self) -> list[int]:
        """The array's shape as a list of ints."""
        return list(self.data.shape)


@dataclass
class RequestedOutput:
    """An output the caller asked for, and whether it wants it as binary data."""

    name: str
    binary: bool = False
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass
class InferRequest:
    """One inference request, whichever protocol it came in."""

    inputs: list[Tensor]
    outputs: list[RequestedOutput] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)
    id: str | None = None
    binary_output: bool = False
    # False when the protocol carries no datatypes (KServe v1): a signature may cast inputs.
    typed: bool = True
    # The original KServe v1 body, forwarded unchanged to a remote v1 endpoint.
    raw_v1: dict[str, Any] | None = None

    @property
    def rows(self) -> int | None:
        """The common first dimension of every input, or None if they differ."""
        firsts = {t.data.shape[0] if t.data.ndim else -1 for t in self.inputs}
        if len(firsts) != 1:
            return None
        (first,) = firsts
        return first if first >= 0 else None


@dataclass
class InferResponse:
    """The outputs of one inference request."""

    outputs: list[Tensor]
    model_name: str = ""
    model_version: str | None = None
    id: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    # A remote KServe v1 answer that is not a tensor (a list of dicts, ragged rows).
    raw_predictions: Any = None


def datatype_of(array: np.ndarray[Any, Any]) -> str:
    """The Open Inference Protocol datatype of a numpy array."""
    kind = array.dtype.kind
    if kind in "USO":
        return "BYTES"
    for name, dtype in DTYPES.items():
        if name != "BYTES" and dtype == array.dtype.newbyteorder("<"):
            return name
    raise InvalidInput(f"arrays of dtype {array.dtype} have no protocol datatype")


def check_shape(shape: Any, what: str, max_elements: int) -> list[int]:
    """Check a declared shape: a list of non-negative ints, within the element budget."""
    if (
        not isinstance(shape, list)
        or len(shape) > MAX_DIMS
        or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
    ):
        raise InvalidInput(
            f"{what}: shape must be a list of at most {MAX_DIMS} non-negative integers"
        )
    count = math.prod(shape)
    if count > max_elements:
        raise InvalidInput(f"{what}: {count} elements exceed the limit of {max_elements}")
    return shape


def array_from_json(data: Any, datatype: str, shape: list[int], what: str) -> np.ndarray[Any, Any]:
    """Decode JSON tensor data (flat or nested, row-major) into an array of `shape`."""
    if not isinstance(data, list):
        raise InvalidInput(f"{what}: data must be a list")
    if datatype == "BYTES":
        array = _bytes_array(data, what)
    else:
        array = coerce(data, DTYPES[datatype], what)
    if array.size != math.prod(shape):
        raise InvalidInput(
            f"{what}: shape {shape} needs {math.prod(shape)} elements, data has {array.size}"
        )
    return array.reshape(shape)


def coerce(data: Any, dtype: np.dtype[Any], what: str) -> np.ndarray[Any, Any]:
    """Convert JSON numbers (a list, nested or not) to `dtype`, refusing lossy conversions."""
    try:
        array = np.asarray(data)
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise InvalidInput(f"{what}: data is not a rectangular array of numbers") from exc
    if array.size == 0:
        return array.astype(dtype)
    if array.dtype.kind not in _ACCEPTED_KINDS[dtype.kind]:
        raise InvalidInput(f"{what}: data does not hold {_kind_name(dtype)}")
    if dtype.kind in "iu" and array.dtype != dtype:
        info = np.iinfo(dtype)
        if array.min() < info.min or array.max() > info.max:
            raise InvalidInput(f"{what}: values out of range for {dtype.name}")
    if dtype.kind == "f" and array.dtype.itemsize > dtype.itemsize:
        try:
            with np.errstate(over="raise"):
                return array.astype(dtype, copy=False)
        except FloatingPointError:
            raise InvalidInput(f"{what}: values out of range for {dtype.name}") from None
    return array.astype(dtype, copy=False)


def _kind_name(dtype: np.dtype[Any]) -> str:
    return {"b": "booleans", "u": "integers", "i": "integers", "f": "numbers"}[dtype.kind]


def _bytes_array(data: list[Any], what: str) -> np.ndarray[Any, Any]:
    flat = _flatten_strings(data, what)
    array = np.empty(len(flat), dtype=object)
    array[:] = flat
    return array


def _flatten_strings(data: list[Any], what: str) -> list[Any]:
    # BYTES data is text, and rarely large: a plain walk is clear and bounded by the body.
    out: list[Any] = []
    stack = [iter(data)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                if len(stack) > MAX_DIMS:
                    raise InvalidInput(f"{what}: data is nested too deeply")
                stack.append(iter(item))
                break
            if not isinstance(item, str):
                raise InvalidInput(f"{what}: BYTES data must be strings")
            out.append(item)
        else:
            stack.pop()
    return out


def to_buffer(array: np.ndarray[Any, Any]) -> bytes | memoryview:
    """Raw little-endian bytes of an array; BYTES as 4-byte lengths + contents (v2 format)."""
    if array.dtype.kind in "USO":
        return encode_bytes_elements(array)
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    contiguous: Any = np.ascontiguousarray(array)
    return memoryview(contiguous).cast("B")


def encode_bytes_elements(array: np.ndarray[Any, Any]) -> bytes:
    """Serialize BYTES elements as the v2 binary extension does: <u4 length, then bytes."""
    parts: list[bytes] = []
    for item in array.ravel().tolist():
        raw = item if isinstance(item, bytes) else str(item).encode()
        parts.append(_LENGTH.pack(len(raw)))
        parts.append(raw)
    return b"".join(parts)


def from_buffer(
    buffer: bytes | memoryview, datatype: str, shape: list[int], what: str
) -> np.ndarray[Any, Any]:
    """Decode raw tensor bytes (as `to_buffer` writes them) into an array of `shape`."""
    count = math.prod(shape)
    if datatype == "BYTES":
        return decode_bytes_elements(buffer, count, what).reshape(shape)
    dtype = DTYPES[datatype]
    if len(buffer) != count * dtype.itemsize:
        raise InvalidInput(
            f"{what}: shape {shape} of {datatype} needs {count * dtype.itemsize} bytes, "
            f"got {len(buffer)}"
        )
    return np.frombuffer(buffer, dtype=dtype).reshape(shape)


def decode_bytes_elements(
    buffer: bytes | memoryview, count: int, what: str
) -> np.ndarray[Any, Any]:
    """Split v2 binary BYTES data into `count` elements."""
    view = memoryview(buffer)
    items: list[bytes] = []
    offset = 0
    for _ in range(count):
        if offset + 4 > len(view):
            raise InvalidInput(f"{what}: BYTES data is truncated")
        (length,) = _LENGTH.unpack_from(view, offset)
        offset += 4
        if offset + length > len(view):
            raise InvalidInput(f"{what}: BYTES data is truncated")
        items.append(bytes(view[offset : offset + length]))
        offset += length
    if offset != len(view):
        raise InvalidInput(f"{what}: BYTES data has {len(view) - offset} bytes too many")
    array = np.empty(count, dtype=object)
    array[:] = items
    return array


def check_finite(tensor: Tensor, what: str) -> None:
    """Refuse NaN and infinities in a floating-point tensor."""
    if tensor.data.dtype.kind == "f" and tensor.data.size and not np.isfinite(tensor.data).all():
        raise InvalidInput(f"{what}: NaN or infinite values are not allowed for this model")


def texts(array: np.ndarray[Any, Any]) -> list[str]:
    """The elements of a BYTES array as text."""
    return [x.decode("utf-8", "replace") if isinstance(x, bytes) else str(x) for x in array.ravel()]
