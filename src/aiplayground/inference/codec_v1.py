"""KServe v1 REST bodies: `{"instances": [...]}` in, `{"predictions": [...]}` out."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from aiplayground.errors import InvalidInput
from aiplayground.inference.codec_v2 import parse_json
from aiplayground.inference.tensor import (
    InferRequest,
    InferResponse,
    Tensor,
    datatype_of,
    texts,
)

V1_INPUT = "instances"
_NUMPY = orjson.OPT_SERIALIZE_NUMPY


def decode_request(body: bytes, max_elements: int) -> InferRequest:
    """Decode a v1 `:predict` body."""
    return request_from_json(parse_json(body), max_elements)


def request_from_json(obj: Any, max_elements: int) -> InferRequest:
    """Build a request from a parsed v1 body: one tensor of the instances, rows first."""
    if not isinstance(obj, dict):
        raise InvalidInput("the request body must be a JSON object")
    key = "instances" if "instances" in obj else "inputs"
    instances = obj.get(key)
    if not isinstance(instances, list) or not instances:
        raise InvalidInput("'instances' must be a non-empty list")
    parameters = obj.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise InvalidInput("'parameters' must be an object")
    return InferRequest(
        inputs=[_instances_tensor(instances, max_elements)],
        parameters=dict(parameters),
        raw_v1=obj,
        typed=False,
    )


def _instances_tensor(instances: list[Any], max_elements: int) -> Tensor:
    try:
        array = np.asarray(instances)
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise InvalidInput("instances: not a rectangular array of numbers or strings") from exc
    if array.dtype.kind == "U":
        array = array.astype(object)
    elif array.dtype.kind not in "biuf":
        raise InvalidInput("instances: not a rectangular array of numbers or strings")
    if array.size > max_elements:
        raise InvalidInput(f"instances: {array.size} elements exceed the limit of {max_elements}")
    # Kept as inferred (int64, float64, bool); the version's signature may cast it later.
    return Tensor(V1_INPUT, datatype_of(array), array)


def encode_response(response: InferResponse) -> bytes:
    """Encode `{"predictions": ...}` from the first output (or a remote's raw answer)."""
    if response.raw_predictions is not None:
        return orjson.dumps({"predictions": response.raw_predictions}, option=_NUMPY)
    if not response.outputs:
        return b'{"predictions":[]}'
    array = response.outputs[0].data
    predictions: Any
    if array.dtype.kind in "USO":
        flat = np.empty(array.size, dtype=object)
        flat[:] = texts(array)
        predictions = flat.reshape(array.shape).tolist()
    else:
        predictions = np.ascontiguousarray(array)
    return orjson.dumps({"predictions": predictions}, option=_NUMPY)


def predictions_tensor(predictions: Any, max_elements: int) -> Tensor | None:
    """A remote v1 answer as a tensor, or None when it is not rectangular numbers/strings."""
    try:
        array = np.asarray(predictions)
    except (ValueError, TypeError):
        return None
    if array.dtype.kind not in "biufU" or array.size > max_elements:
        return None
    if array.dtype.kind == "U":
        array = array.astype(object)
    return Tensor("predictions", datatype_of(array), array)
