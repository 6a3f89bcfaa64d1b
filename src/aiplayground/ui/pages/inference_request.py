"""What the Inference page sends: KServe v1 and v2 bodies, prefilled from a version's example
or signature, converted between the protocols, laid out for people, and decoded and encoded
with the very codec functions the REST routes use (one data plane, many doors)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import orjson

from aiplayground.catalog.schemas import (
    ModelFormat,
    ModelInfo,
    ModelVersionInfo,
    Objective,
    Protocol,
    TensorSpec,
)
from aiplayground.errors import InvalidInput
from aiplayground.inference import codec_v1, codec_v2
from aiplayground.inference.runtimes import PROBA_OUTPUT
from aiplayground.inference.tensor import InferRequest, InferResponse, datatype_of
from aiplayground.ui.pages.catalog_common import SERVED_FORMATS

Wire = Literal["v1", "v2"]
WIRES: dict[Wire, str] = {"v1": "KServe v1", "v2": "Open Inference v2"}
# Runtimes that answer a `predict_proba` output for classifiers (see inference/runtimes/).
PROBA_FORMATS = frozenset({ModelFormat.SKLEARN, ModelFormat.XGBOOST, ModelFormat.LIGHTGBM})


def servable(info: ModelInfo) -> bool:
    """True when the KServe v1/v2 routes can call the model (served here or forwarded)."""
    if info.format is ModelFormat.REMOTE:
        return info.endpoint is not None and info.endpoint.protocol is not Protocol.OPENAI
    return info.format in SERVED_FORMATS and bool(info.versions)


def default_wire(info: ModelInfo) -> Wire:
    """The endpoint's own protocol for remote models; v2 (named outputs) for ours."""
    if info.endpoint is not None and info.endpoint.protocol is Protocol.KSERVE_V1:
        return "v1"
    return "v2"


def offers_probabilities(info: ModelInfo) -> bool:
    """True for classifiers whose runtime can answer per-class probabilities."""
    return info.objective is Objective.CLASSIFICATION and info.format in PROBA_FORMATS


def label_output(version: ModelVersionInfo | None) -> str:
    """The name a version's signature gives the runtime's first output (`predict`)."""
    if version is not None and version.signature is not None and version.signature.outputs:
        return version.signature.outputs[0].name
    return "predict"


# bodies -------------------------------------------------------------------------------


def prefilled(version: ModelVersionInfo | None, specs: list[TensorSpec], wire: Wire) -> Any:
    """The version's example in `wire`'s form, else zeros of the signature's shapes."""
    if version is not None and version.example:
        try:
            return convert(version.example, wire, specs)
        except InvalidInput:
            pass  # an example in the other protocol's form that cannot convert: as written
        return version.example
    if specs:
        return zeros(specs, "v2" if len(specs) > 1 else wire)
    return None


def zeros(specs: list[TensorSpec], wire: Wire) -> dict[str, Any]:
    """A request of one row (variable dimensions as 1) of zeros, "" for BYTES inputs."""
    tensors = []
    for spec in specs:
        shape = [1 if d < 0 else d for d in spec.shape]
        if spec.datatype == "BYTES":
            data: Any = np.full(shape, "", dtype=object).tolist()
        elif spec.datatype == "BOOL":
            data = np.zeros(shape, dtype=bool).tolist()
        elif spec.datatype.startswith("FP"):
            data = np.zeros(shape).tolist()
        else:
            data = np.zeros(shape, dtype=np.int64).tolist()
        tensors.append({"name": spec.name, "datatype": spec.datatype, "shape": shape, "data": data})
    if wire == "v1" and len(tensors) == 1:
        return {"instances": tensors[0]["data"]}
    return {"inputs": tensors}


def is_v2(body: Any) -> bool:
    """True for an Open Inference body (`inputs` of named tensors)."""
    inputs = body.get("inputs") if isinstance(body, dict) else None
    return isinstance(inputs, list) and bool(inputs) and isinstance(inputs[0], dict)


def convert(body: Any, wire: Wire, specs: list[TensorSpec]) -> Any:
    """The same request in the other protocol's form (rows stay rows); InvalidInput if not."""
    if not isinstance(body, dict):
        raise InvalidInput("the request body must be a JSON object")
    if (wire == "v2") == is_v2(body):
        return body
    extra = {"parameters": body["parameters"]} if body.get("parameters") else {}
    if wire == "v1":
        inputs = body["inputs"]
        if len(inputs) != 1:
            raise InvalidInput(f"KServe v1 carries one input; this request has {len(inputs)}")
        tensor = inputs[0]
        try:
            array = np.asarray(tensor.get("data"), dtype=object)
            array = array.reshape(tensor.get("shape", array.shape))
        except (ValueError, TypeError) as exc:
            raise InvalidInput(f"the input's data does not fit its shape: {exc}") from None
        return {"instances": array.tolist(), **extra}
    instances = body.get("instances", body.get("inputs"))
    if not isinstance(instances, list) or not instances:
        raise InvalidInput("'instances' must be a non-empty list")
    try:
        array = np.asarray(instances)
    except (ValueError, TypeError):
        raise InvalidInput("instances: not a rectangular array of numbers or strings") from None
    if array.dtype.kind not in "biufU":
        raise InvalidInput("instances: not a rectangular array of numbers or strings")
    spec = specs[0] if len(specs) == 1 else None
    tensor = {
        "name": spec.name if spec else "input-0",
        "datatype": spec.datatype if spec else datatype_of(array),
        "shape": list(array.shape),
        "data": instances,
    }
    return {"inputs": [tensor], **extra}


def with_outputs(body: Any, outputs: list[str] | None) -> Any:
    """A v2 body asking for these named outputs (None: the model's default outputs)."""
    if not is_v2(body):
        return body
    changed = {k: v for k, v in body.items() if k != "outputs"}
    if outputs:
        changed["outputs"] = [{"name": name} for name in outputs]
    return changed


def asks_probabilities(body: Any) -> bool:
    """True when a v2 body names the `predict_proba` output."""
    outputs = body.get("outputs") if isinstance(body, dict) else None
    return isinstance(outputs, list) and any(
        isinstance(o, dict) and o.get("name") == PROBA_OUTPUT for o in outputs
    )


def row_count(body: Any) -> int | None:
    """How many rows a v1 or v2 body holds (its first input's first dimension)."""
    if not isinstance(body, dict):
        return None
    instances = body.get("instances")
    if isinstance(instances, list):
        return len(instances)
    if is_v2(body):
        shape = body["inputs"][0].get("shape")
        if isinstance(shape, list) and shape and isinstance(shape[0], int):
            return shape[0]
    return None


def dumps(body: Any) -> str:
    """JSON as people edit it: what fits on a line stays on one, a row of numbers too."""
    return _layout(body, 0, _json_line, "  ")


def python_literal(body: Any) -> str:
    """The same layout as `dumps`, as a Python literal (True, False, None)."""
    return _layout(body, 0, _python_line, "    ")


def _json_line(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _python_line(value: Any) -> str:
    if isinstance(value, dict):
        items = (f"{_json_line(str(k))}: {_python_line(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_python_line(v) for v in value) + "]"
    if value is None or isinstance(value, bool):
        return repr(value)
    return _json_line(value)  # numbers and strings read the same in both


def _many(value: Any, limit: int) -> bool:
    """True when `value` holds more than `limit` values and containers (stops counting)."""
    stack, seen = [value], 0
    while stack:
        item = stack.pop()
        seen += 1
        if seen > limit:
            return True
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item[: limit + 1])
    return False


def _layout(value: Any, level: int, line: Callable[[Any], str], unit: str) -> str:
    if not isinstance(value, dict | list):
        return line(value)
    if isinstance(value, list) and not any(isinstance(v, dict | list) for v in value):
        return line(value)  # a row of numbers stays on one line, however long
    pad, end = unit * (level + 1), unit * level
    if not _many(value, 26):  # past 26 values a line is longer than 76 characters anyway
        one = line(value)
        if len(one) + len(end) <= 76:
            return one
    if isinstance(value, dict):
        parts = [
            f"{_json_line(str(k))}: {_layout(v, level + 1, line, unit)}" for k, v in value.items()
        ]
    else:
        parts = [_layout(v, level + 1, line, unit) for v in value]
    opening, closing = ("{", "}") if isinstance(value, dict) else ("[", "]")
    return opening + "\n" + ",\n".join(pad + p for p in parts) + "\n" + end + closing


# the routes' codecs -------------------------------------------------------------------


def decode(wire: Wire, body: bytes, max_elements: int) -> InferRequest:
    """The request exactly as the /v1 or /v2 route decodes this body."""
    if wire == "v1":
        return codec_v1.decode_request(body, max_elements)
    return codec_v2.decode_request(body, None, max_elements)


def encode(wire: Wire, response: InferResponse, request: InferRequest) -> tuple[Any, int]:
    """The JSON the route would answer (binary outputs left out), and its size in bytes."""
    if wire == "v1":
        content = codec_v1.encode_response(response)
        return orjson.loads(content), len(content)
    if not response.outputs and response.raw_predictions is not None:
        raise InvalidInput("the remote v1 endpoint's answer is not a tensor: use /v1/models")
    content, headers = codec_v2.encode_response(response, request)
    head = int(headers.get(codec_v2.HEADER_LENGTH, len(content)))
    return orjson.loads(content[:head]), len(content)
