"""Open Inference Protocol v2 (KServe v2, Triton) REST bodies, with binary tensor data.

The binary tensor data extension: a request whose `Inference-Header-Content-Length` is N
carries N bytes of JSON, then the raw data of each input whose parameters name a
`binary_data_size`, in order. Outputs asked for with `binary_data` come back the same way.
"""

from __future__ import annotations

from typing import Any

import orjson

from aiplayground.errors import InvalidInput
from aiplayground.inference.tensor import (
    DATATYPES,
    InferRequest,
    InferResponse,
    RequestedOutput,
    Tensor,
    array_from_json,
    check_shape,
    from_buffer,
    texts,
    to_buffer,
)

HEADER_LENGTH = "inference-header-content-length"
MAX_TENSORS = 256
_NUMPY = orjson.OPT_SERIALIZE_NUMPY


def parse_json(body: bytes | memoryview, what: str = "request body") -> Any:
    """Parse JSON; malformed or too deeply nested JSON is an InvalidInput."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"{what} is not valid JSON: {exc}") from exc


def decode_request(body: bytes, header_length: str | None, max_elements: int) -> InferRequest:
    """Decode a v2 inference request (JSON, optionally followed by binary tensor data)."""
    binary = memoryview(b"")
    head: bytes | memoryview = body
    if header_length is not None:
        try:
            split = int(header_length)
        except ValueError:
            raise InvalidInput("Inference-Header-Content-Length must be an integer") from None
        if not 0 <= split <= len(body):
            raise InvalidInput("Inference-Header-Content-Length exceeds the body")
        view = memoryview(body)
        head, binary = view[:split], view[split:]
    return request_from_json(parse_json(head), binary, max_elements)


def request_from_json(obj: Any, binary: memoryview, max_elements: int) -> InferRequest:
    """Build a request from a parsed v2 body and the binary data that followed it."""
    if not isinstance(obj, dict):
        raise InvalidInput("the request body must be a JSON object")
    raw_inputs = obj.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise InvalidInput("'inputs' must be a non-empty list")
    if len(raw_inputs) > MAX_TENSORS:
        raise InvalidInput(f"at most {MAX_TENSORS} inputs")
    parameters = _parameters(obj.get("parameters"), "request")
    inputs: list[Tensor] = []
    offset = 0
    budget = max_elements
    for index, raw in enumerate(raw_inputs):
        tensor, used = _input(raw, index, binary[offset:], budget)
        offset += used
        budget -= tensor.data.size
        inputs.append(tensor)
    if offset != len(binary):
        raise InvalidInput(f"{len(binary) - offset} bytes of binary data belong to no input")
    request_id = obj.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InvalidInput("'id' must be a string")
    return InferRequest(
        inputs=inputs,
        outputs=_outputs(obj.get("outputs")),
        parameters=parameters,
        id=request_id,
        binary_output=parameters.get("binary_data_output") is True,
    )


def _input(raw: Any, index: int, binary: memoryview, budget: int) -> tuple[Tensor, int]:
    if not isinstance(raw, dict):
        raise InvalidInput(f"inputs[{index}] must be an object")
    name = raw.get("name")
    if not isinstance(name, str) or not name or len(name) > 256:
        raise InvalidInput(f"inputs[{index}]: 'name' must be a non-empty string")
    what = f"input {name!r}"
    datatype = raw.get("datatype")
    if datatype not in DATATYPES:
        raise InvalidInput(f"{what}: datatype must be one of {', '.join(DATATYPES)}")
    shape = check_shape(raw.get("shape"), what, budget)
    parameters = _parameters(raw.get("parameters"), what)
    size = parameters.pop("binary_data_size", None)
    if size is not None:
        if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= len(binary):
            raise InvalidInput(f"{what}: binary_data_size does not fit the binary data sent")
        data = from_buffer(binary[:size], datatype, shape, what)
        return Tensor(name, datatype, data, parameters), size
    if "data" not in raw:
        raise InvalidInput(f"{what}: needs 'data' or a binary_data_size parameter")
    return Tensor(
        name, datatype, array_from_json(raw["data"], datatype, shape, what), parameters
    ), 0


def _outputs(raw: Any) -> list[RequestedOutput]:
    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > MAX_TENSORS:
        raise InvalidInput(f"'outputs' must be a list of at most {MAX_TENSORS} objects")
    outputs = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise InvalidInput(f"outputs[{index}] must be an object with a 'name'")
        parameters = _parameters(item.get("parameters"), f"output {item['name']!r}")
        binary = parameters.pop("binary_data", False) is True
        outputs.append(RequestedOutput(item["name"], binary, parameters))
    return outputs


def _parameters(raw: Any, what: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidInput(f"{what}: 'parameters' must be an object")
    return dict(raw)


def encode_request(request: InferRequest, binary: bool = True) -> tuple[bytes, dict[str, str]]:
    """Encode a request for a remote v2 server; returns the body and extra headers."""
    inputs: list[dict[str, Any]] = []
    chunks: list[bytes | memoryview] = []
    for tensor in request.inputs:
        entry: dict[str, Any] = {
            "name": tensor.name,
            "datatype": tensor.datatype,
            "shape": tensor.shape,
            "parameters": dict(tensor.parameters),
        }
        if binary:
            chunk = to_buffer(tensor.data)
            entry["parameters"]["binary_data_size"] = len(chunk)
            chunks.append(chunk)
        else:
            entry["data"] = _json_data(tensor)
        inputs.append(entry)
    obj: dict[str, Any] = {"inputs": inputs, "parameters": request.parameters}
    if request.id is not None:
        obj["id"] = request.id
    if request.outputs:
        obj["outputs"] = [
            {"name": o.name, "parameters": {**o.parameters, "binary_data": o.binary}}
            for o in request.outputs
        ]
    head = orjson.dumps(obj, option=_NUMPY)
    if not chunks:
        return head, {"content-type": "application/json"}
    body = b"".join([head, *chunks])
    return body, {"content-type": "application/octet-stream", HEADER_LENGTH: str(len(head))}


def encode_response(response: InferResponse, request: InferRequest) -> tuple[bytes, dict[str, str]]:
    """Encode a response; outputs the request wanted as binary follow the JSON header."""
    wanted_binary = {o.name for o in request.outputs if o.binary}
    outputs: list[dict[str, Any]] = []
    chunks: list[bytes | memoryview] = []
    for tensor in response.outputs:
        entry: dict[str, Any] = {
            "name": tensor.name,
            "datatype": tensor.datatype,
            "shape": tensor.shape,
        }
        if request.binary_output or tensor.name in wanted_binary:
            chunk = to_buffer(tensor.data)
            entry["parameters"] = {**tensor.parameters, "binary_data_size": len(chunk)}
            chunks.append(chunk)
        else:
            if tensor.parameters:
                entry["parameters"] = tensor.parameters
            entry["data"] = _json_data(tensor)
        outputs.append(entry)
    obj: dict[str, Any] = {"model_name": response.model_name, "outputs": outputs}
    if response.model_version is not None:
        obj["model_version"] = response.model_version
    if response.id is not None:
        obj["id"] = response.id
    if response.parameters:
        obj["parameters"] = response.parameters
    head = orjson.dumps(obj, option=_NUMPY)
    if not chunks:
        return head, {"content-type": "application/json"}
    body = b"".join([head, *chunks])
    return body, {"content-type": "application/octet-stream", HEADER_LENGTH: str(len(head))}


def _json_data(tensor: Tensor) -> Any:
    array = tensor.data
    if array.dtype.kind in "USO":
        return texts(array)
    # orjson writes contiguous numeric arrays natively, far faster than tolist().
    return array.reshape(-1) if array.flags.c_contiguous else array.ravel()


def decode_response(body: bytes, header_length: str | None, max_elements: int) -> InferResponse:
    """Decode a v2 response from a remote server (JSON, optionally with binary outputs)."""
    binary = memoryview(b"")
    head: bytes | memoryview = body
    if header_length is not None:
        split = int(header_length)
        view = memoryview(body)
        head, binary = view[:split], view[split:]
    obj = parse_json(head, "response body")
    if not isinstance(obj, dict) or not isinstance(obj.get("outputs"), list):
        raise InvalidInput("the response has no 'outputs' list")
    outputs = []
    offset = 0
    for index, raw in enumerate(obj["outputs"]):
        tensor, used = _input(raw, index, binary[offset:], max_elements)
        offset += used
        outputs.append(tensor)
    version = obj.get("model_version")
    return InferResponse(
        outputs=outputs,
        model_name=str(obj.get("model_name", "")),
        model_version=str(version) if version is not None else None,
        id=obj.get("id") if isinstance(obj.get("id"), str) else None,
        parameters=_parameters(obj.get("parameters"), "response"),
    )
