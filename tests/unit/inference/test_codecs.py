"""KServe v1 and Open Inference Protocol v2 codecs: typed decoding, binary data, refusals."""

from __future__ import annotations

import json
import struct

import numpy as np
import orjson
import pytest

from aiplayground.errors import InvalidInput
from aiplayground.inference import codec_v1, codec_v2
from aiplayground.inference.tensor import (
    InferRequest,
    InferResponse,
    RequestedOutput,
    Tensor,
    decode_bytes_elements,
    encode_bytes_elements,
)

LIMIT = 10_000


def v2(*inputs: dict, **extra: object) -> bytes:
    return json.dumps({"inputs": list(inputs), **extra}).encode()


def test_v2_json_decodes_each_datatype_into_numpy() -> None:
    request = codec_v2.decode_request(
        v2(
            {"name": "a", "datatype": "FP32", "shape": [2, 2], "data": [1, 2.5, 3, 4]},
            {"name": "b", "datatype": "INT8", "shape": [3], "data": [[-1], [0], [127]]},
            {"name": "c", "datatype": "BOOL", "shape": [2], "data": [True, False]},
            {"name": "d", "datatype": "BYTES", "shape": [2], "data": ["x", "yé"]},
            id="r1",
            parameters={"binary_data_output": True, "temperature": 0.5},
            outputs=[{"name": "o", "parameters": {"binary_data": True}}],
        ),
        None,
        LIMIT,
    )
    a, b, c, d = request.inputs
    assert a.data.dtype == np.float32
    assert a.data.shape == (2, 2)
    assert b.data.dtype == np.int8
    assert b.data.tolist() == [-1, 0, 127]
    assert c.data.dtype == np.bool_
    assert d.data.tolist() == ["x", "yé"]
    assert request.id == "r1"
    assert request.binary_output
    assert request.parameters["temperature"] == 0.5
    assert request.outputs == [RequestedOutput("o", True, {})]


def test_v2_binary_extension_matches_tritonclient_layout() -> None:
    x = np.arange(6, dtype=np.float64).reshape(2, 3)
    words = np.array([b"ab", b""], dtype=object)
    raw_words = encode_bytes_elements(words)
    head = v2(
        {"name": "x", "datatype": "FP64", "shape": [2, 3], "parameters": {"binary_data_size": 48}},
        {
            "name": "w",
            "datatype": "BYTES",
            "shape": [2],
            "parameters": {"binary_data_size": len(raw_words)},
        },
    )
    request = codec_v2.decode_request(head + x.tobytes() + raw_words, str(len(head)), LIMIT)
    np.testing.assert_array_equal(request.inputs[0].data, x)
    assert request.inputs[1].data.tolist() == [b"ab", b""]
    assert raw_words == struct.pack("<I", 2) + b"ab" + struct.pack("<I", 0)


@pytest.mark.parametrize(
    "body",
    [
        v2({"name": "x", "datatype": "INT8", "shape": [1], "data": [300]}),
        v2({"name": "x", "datatype": "INT32", "shape": [1], "data": [1.5]}),
        v2({"name": "x", "datatype": "FP32", "shape": [1], "data": [True]}),
        v2({"name": "x", "datatype": "FP32", "shape": [1], "data": ["1"]}),
        v2({"name": "x", "datatype": "FP32", "shape": [1], "data": [10**40]}),
        v2({"name": "x", "datatype": "BYTES", "shape": [1], "data": [1]}),
        v2({"name": "x", "datatype": "FP32", "shape": [True], "data": [1]}),
        v2({"name": "x", "datatype": "FP32", "shape": [1] * 40, "data": [1]}),
        v2({"name": "x", "datatype": "FP32", "shape": [10**5, 10**5], "data": [1]}),
        v2({"name": "x", "datatype": "FP32", "shape": [1], "data": 1}),
        v2({"name": "", "datatype": "FP32", "shape": [1], "data": [1]}),
        v2({"name": "x", "datatype": "FP32", "shape": [1]}),
        v2({"name": "x", "datatype": "FP32", "shape": [1], "data": [1]}, id=5),
        v2({"name": "x", "datatype": "FP32", "shape": [1], "data": [1]}, outputs={"a": 1}),
        b"[" * 2000 + b"]" * 2000,
        b"\xff\xfe",
    ],
)
def test_v2_refusals_are_invalid_input(body: bytes) -> None:
    with pytest.raises(InvalidInput):
        codec_v2.decode_request(body, None, LIMIT)


def test_v2_element_budget_spans_all_inputs() -> None:
    half = {"datatype": "FP32", "shape": [LIMIT // 2 + 1], "data": [0.0] * (LIMIT // 2 + 1)}
    with pytest.raises(InvalidInput, match="exceed"):
        codec_v2.decode_request(v2({"name": "a", **half}, {"name": "b", **half}), None, LIMIT)


def test_v2_leftover_binary_bytes_are_refused() -> None:
    head = v2(
        {"name": "x", "datatype": "UINT8", "shape": [1], "parameters": {"binary_data_size": 1}}
    )
    with pytest.raises(InvalidInput, match="belong to no input"):
        codec_v2.decode_request(head + b"\x01\x02", str(len(head)), LIMIT)


def test_v2_response_json_and_binary() -> None:
    labels = Tensor("label", "INT64", np.array([1, 2]))
    proba = Tensor("proba", "FP32", np.array([[0.25, 0.75], [0.5, 0.5]], dtype=np.float32))
    names = Tensor("name", "BYTES", np.array(["setosa", "virginica"]))
    response = InferResponse([labels, proba, names], model_name="m", model_version="3", id="i")
    plain, headers = codec_v2.encode_response(response, InferRequest(inputs=[]))
    assert headers == {"content-type": "application/json"}
    body = orjson.loads(plain)
    assert body["model_version"] == "3"
    assert body["id"] == "i"
    assert body["outputs"][1] == {
        "name": "proba",
        "datatype": "FP32",
        "shape": [2, 2],
        "data": [0.25, 0.75, 0.5, 0.5],
    }
    assert body["outputs"][2]["data"] == ["setosa", "virginica"]
    wanted = InferRequest(inputs=[], outputs=[RequestedOutput("proba", binary=True)])
    mixed, headers = codec_v2.encode_response(response, wanted)
    split = int(headers[codec_v2.HEADER_LENGTH])
    head = orjson.loads(mixed[:split])
    assert head["outputs"][1]["parameters"] == {"binary_data_size": 16}
    assert np.frombuffer(mixed[split:], dtype="<f4").tolist() == [0.25, 0.75, 0.5, 0.5]
    decoded = codec_v2.decode_response(mixed, str(split), LIMIT)
    np.testing.assert_array_equal(decoded.outputs[1].data, proba.data)


def test_v2_request_roundtrip_for_remote_servers() -> None:
    request = InferRequest(
        inputs=[Tensor("x", "FP64", np.ones((2, 2)))], id="z", outputs=[RequestedOutput("y")]
    )
    body, headers = codec_v2.encode_request(request, binary=True)
    again = codec_v2.decode_request(body, headers[codec_v2.HEADER_LENGTH], LIMIT)
    np.testing.assert_array_equal(again.inputs[0].data, np.ones((2, 2)))
    assert again.id == "z"
    assert again.outputs[0].name == "y"


def test_v1_instances_keep_their_kind() -> None:
    floats = codec_v1.decode_request(b'{"instances": [[1, 2.5]]}', LIMIT).inputs[0]
    ints = codec_v1.decode_request(b'{"instances": [[1, 2]]}', LIMIT).inputs[0]
    texts = codec_v1.decode_request(b'{"inputs": ["a b", "c"]}', LIMIT).inputs[0]
    assert (floats.datatype, ints.datatype, texts.datatype) == ("FP64", "INT64", "BYTES")
    assert texts.data.tolist() == ["a b", "c"]


@pytest.mark.parametrize(
    "body",
    [
        b'{"instances": []}',
        b'{"instances": [[1], [1, 2]]}',
        b'{"instances": [{"a": 1}]}',
        b'{"instances": [[1]], "parameters": 3}',
        b'{"instances": ' + b"[" * 3000 + b"]" * 3000 + b"}",
    ],
)
def test_v1_refusals(body: bytes) -> None:
    with pytest.raises(InvalidInput):
        codec_v1.decode_request(body, LIMIT)


def test_v1_response_from_numbers_and_strings() -> None:
    numbers = InferResponse([Tensor("p", "FP32", np.array([[0.5, 1.0]], dtype=np.float32))])
    assert orjson.loads(codec_v1.encode_response(numbers)) == {"predictions": [[0.5, 1.0]]}
    words = InferResponse([Tensor("p", "BYTES", np.array([b"a", "b"], dtype=object))])
    assert orjson.loads(codec_v1.encode_response(words)) == {"predictions": ["a", "b"]}
    raw = InferResponse([], raw_predictions=[{"label": "x"}])
    assert orjson.loads(codec_v1.encode_response(raw)) == {"predictions": [{"label": "x"}]}


def test_bytes_elements_truncated_or_padded_are_refused() -> None:
    good = encode_bytes_elements(np.array([b"abc"], dtype=object))
    with pytest.raises(InvalidInput):
        decode_bytes_elements(good[:-1], 1, "x")
    with pytest.raises(InvalidInput):
        decode_bytes_elements(good + b"\0", 1, "x")
