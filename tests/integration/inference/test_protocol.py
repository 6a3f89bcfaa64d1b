"""Protocol behaviour on one served model: health, auth, metadata, versions, batching, bad input."""

from __future__ import annotations

import asyncio
import gzip
import json
import struct

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from sklearn.linear_model import LogisticRegression

from tests.integration.inference.conftest import Live, publish, signature

MODEL = "iris-proto"


@pytest.fixture(scope="module")
def model(live: Live, iris: tuple[np.ndarray, np.ndarray]) -> LogisticRegression:
    """A logistic regression on Iris, published with a signature and two versions."""
    import skops.io

    x, y = iris
    first = LogisticRegression(max_iter=1000).fit(x, y)
    second = LogisticRegression(max_iter=1000, C=0.01).fit(x, y)
    meta = {"signature": signature(4), "example": {"instances": x[:2].tolist()}}
    publish(live, MODEL, "sklearn", [("model.skops", skops.io.dumps(first))], meta)
    with live.http() as http:
        parts = [("file", ("model.skops", skops.io.dumps(second), "application/octet-stream"))]
        r = http.post(f"/api/v1/models/{MODEL}/versions", files=parts, data={"metadata": "{}"})
        assert r.status_code == 201, r.text
        # v1 is production: the default version, although v2 is newer.
        r = http.put(f"/api/v1/models/{MODEL}/aliases/production", json={"version": 1})
        assert r.status_code == 200, r.text
    return first


def v2_body(x: np.ndarray, **extra: object) -> dict:
    tensor = {
        "name": "input-0",
        "datatype": "FP64",
        "shape": list(x.shape),
        "data": x.ravel().tolist(),
    }
    return {"inputs": [tensor], **extra}


def test_health_needs_no_credential_but_models_do(live: Live) -> None:
    client = triton.InferenceServerClient(url=live.host)
    assert client.is_server_live()
    assert client.is_server_ready()
    assert "binary_tensor_data" in client.get_server_metadata(headers=live.headers())["extensions"]
    client.close()
    with httpx.Client(base_url=live.url) as anonymous:
        for method, path in [
            ("GET", "/v2"),
            ("GET", f"/v2/models/{MODEL}"),
            ("GET", f"/v2/models/{MODEL}/ready"),
            ("POST", f"/v2/models/{MODEL}/infer"),
            ("GET", f"/v1/models/{MODEL}"),
            ("POST", f"/v1/models/{MODEL}:predict"),
        ]:
            r = anonymous.request(method, path, json={})
            assert r.status_code == 401, (path, r.text)
            assert "error" in r.json()


def test_default_version_is_production_and_versions_are_addressable(
    live: Live, model: LogisticRegression, iris: tuple[np.ndarray, np.ndarray]
) -> None:
    x = iris[0][:20]
    with live.http() as http:
        default = http.post(f"/v2/models/{MODEL}/infer", json=v2_body(x)).json()
        second = http.post(f"/v2/models/{MODEL}/versions/2/infer", json=v2_body(x)).json()
    assert default["model_name"] == MODEL
    assert default["model_version"] == "1"
    assert second["model_version"] == "2"
    assert default["outputs"][0]["name"] == "output-0"
    assert default["outputs"][0]["data"] == model.predict(x).tolist()


def test_metadata_parameters_and_named_outputs(
    live: Live, model: LogisticRegression, iris: tuple[np.ndarray, np.ndarray]
) -> None:
    client = triton.InferenceServerClient(url=live.host)
    meta = client.get_model_metadata(MODEL, headers=live.headers())
    assert meta["name"] == MODEL
    assert meta["inputs"] == [{"name": "input-0", "datatype": "FP64", "shape": [-1, 4]}]
    assert meta["platform"] == "sklearn"
    # Declared outputs first, then what the runtime offers besides (asked for below).
    assert [o["name"] for o in meta["outputs"]] == ["output-0", "predict_proba"]
    client.close()
    x = iris[0][::10]
    body = v2_body(
        x,
        id="req-7",
        parameters={"binary_data_output": False},
        outputs=[{"name": "predict_proba"}, {"name": "output-0"}],
    )
    with live.http() as http:
        answer = http.post(f"/v2/models/{MODEL}/infer", json=body).json()
    assert answer["id"] == "req-7"
    assert [o["name"] for o in answer["outputs"]] == ["predict_proba", "output-0"]
    proba = np.asarray(answer["outputs"][0]["data"]).reshape(answer["outputs"][0]["shape"])
    np.testing.assert_allclose(proba, model.predict_proba(x), rtol=1e-12)


def test_gzip_request_and_binary_output(
    live: Live, model: LogisticRegression, iris: tuple[np.ndarray, np.ndarray]
) -> None:
    x = iris[0][:30]
    client = triton.InferenceServerClient(url=live.host)
    tensor = triton.InferInput("input-0", list(x.shape), "FP64")
    tensor.set_data_from_numpy(x, binary_data=True)
    result = client.infer(
        MODEL, [tensor], headers=live.headers(), request_compression_algorithm="gzip"
    )
    np.testing.assert_array_equal(result.as_numpy("output-0"), model.predict(x))
    client.close()


def test_concurrent_requests_are_batched_and_split_back(
    live: Live, model: LogisticRegression, iris: tuple[np.ndarray, np.ndarray]
) -> None:
    x = iris[0]

    async def run() -> list[dict]:
        async with httpx.AsyncClient(base_url=live.url, headers=live.headers(), timeout=60) as http:
            sends = [
                http.post(f"/v2/models/{MODEL}/infer", json=v2_body(x[i : i + 1 + i % 3]))
                for i in range(64)
            ]
            return [r.json() for r in await asyncio.gather(*sends)]

    answers = asyncio.run(run())
    for i, answer in enumerate(answers):
        assert answer["outputs"][0]["data"] == model.predict(x[i : i + 1 + i % 3]).tolist()


def test_v1_with_signature_casts_integers(live: Live, model: LogisticRegression) -> None:
    with live.http() as http:
        r = http.post(f"/v1/models/{MODEL}:predict", json={"instances": [[5, 3, 1, 0]]})
    assert r.status_code == 200, r.text
    assert r.json()["predictions"] == model.predict(np.array([[5.0, 3.0, 1.0, 0.0]])).tolist()


def _binary(x: np.ndarray, declared: list[int], datatype: str = "FP64") -> tuple[bytes, dict]:
    raw = x.tobytes()
    head = json.dumps(
        {
            "inputs": [
                {
                    "name": "input-0",
                    "datatype": datatype,
                    "shape": declared,
                    "parameters": {"binary_data_size": len(raw)},
                }
            ]
        }
    ).encode()
    return head + raw, {
        "Inference-Header-Content-Length": str(len(head)),
        "Content-Type": "application/octet-stream",
    }


def _nested(depth: int) -> bytes:
    return b'{"instances": ' + b"[" * depth + b"1" + b"]" * depth + b"}"


BAD_V2 = {
    "malformed json": (b'{"inputs": [', {}),
    "not an object": (b"[1, 2]", {}),
    "no inputs": (b'{"inputs": []}', {}),
    "wrong shape": (json.dumps(v2_body(np.ones((2, 3)))).encode(), {}),
    "shape and data disagree": (
        json.dumps(
            {
                "inputs": [
                    {"name": "input-0", "datatype": "FP64", "shape": [2, 4], "data": [1.0] * 4}
                ]
            }
        ).encode(),
        {},
    ),
    "wrong datatype": (
        json.dumps(
            {
                "inputs": [
                    {"name": "input-0", "datatype": "FP32", "shape": [1, 4], "data": [1.0] * 4}
                ]
            }
        ).encode(),
        {},
    ),
    "unknown datatype": (
        json.dumps(
            {
                "inputs": [
                    {"name": "input-0", "datatype": "FLOAT", "shape": [1, 4], "data": [1.0] * 4}
                ]
            }
        ).encode(),
        {},
    ),
    "strings as numbers": (
        json.dumps(
            {
                "inputs": [
                    {
                        "name": "input-0",
                        "datatype": "FP64",
                        "shape": [1, 4],
                        "data": ["1", "2", "3", "NaN"],
                    }
                ]
            }
        ).encode(),
        {},
    ),
    "10^8 elements declared": (
        json.dumps(
            {
                "inputs": [
                    {"name": "input-0", "datatype": "FP64", "shape": [10**8 // 4, 4], "data": [1.0]}
                ]
            }
        ).encode(),
        {},
    ),
    "negative dimension": (
        json.dumps(
            {
                "inputs": [
                    {"name": "input-0", "datatype": "FP64", "shape": [-1, 4], "data": [1.0] * 4}
                ]
            }
        ).encode(),
        {},
    ),
    "deeply nested json": (
        b'{"inputs": [{"name": "input-0", "datatype": "FP64", "shape": [1], "data": '
        + b"[" * 100_000
        + b"]" * 100_000
        + b"}]}",
        {},
    ),
    "ragged data": (
        json.dumps(
            {
                "inputs": [
                    {
                        "name": "input-0",
                        "datatype": "FP64",
                        "shape": [2, 4],
                        "data": [[1, 2, 3, 4], [1, 2]],
                    }
                ]
            }
        ).encode(),
        {},
    ),
    "unknown input": (
        json.dumps(
            {
                "inputs": [
                    {"name": "a", "datatype": "FP64", "shape": [1, 4], "data": [1.0] * 4},
                    {"name": "b", "datatype": "FP64", "shape": [1, 4], "data": [1.0] * 4},
                ]
            }
        ).encode(),
        {},
    ),
    "unknown output": (
        json.dumps(v2_body(np.ones((1, 4)), outputs=[{"name": "nope"}])).encode(),
        {},
    ),
    "NaN in binary data": _binary(np.array([[1.0, np.nan, 2.0, 3.0]]), [1, 4]),
    "binary size mismatch": _binary(np.ones((1, 4)), [2, 4]),
    "header length past body": (b"{}", {"Inference-Header-Content-Length": "99"}),
    "corrupt gzip": (b"not gzip", {"Content-Encoding": "gzip"}),
}


@pytest.mark.parametrize("case", list(BAD_V2))
def test_bad_v2_requests_get_a_clear_400(live: Live, model: LogisticRegression, case: str) -> None:
    content, headers = BAD_V2[case]
    with live.http() as http:
        r = http.post(
            f"/v2/models/{MODEL}/infer",
            content=content,
            headers={"Content-Type": "application/json", **headers},
        )
        assert r.status_code == 400, (case, r.status_code, r.text[:300])
        assert isinstance(r.json()["error"], str)
        assert http.get("/v2/health/live").status_code == 200


BAD_V1 = {
    "malformed json": b'{"instances": [[1, 2',
    "no instances": b'{"foo": 1}',
    "ragged instances": b'{"instances": [[1, 2, 3, 4], [1]]}',
    "dict instances": b'{"instances": [{"a": 1}]}',
    "wrong width": b'{"instances": [[1, 2, 3]]}',
    "deeply nested json": _nested(5000),
    "deep but parseable": _nested(200),
}


@pytest.mark.parametrize("case", list(BAD_V1))
def test_bad_v1_requests_get_a_clear_400(live: Live, model: LogisticRegression, case: str) -> None:
    with live.http() as http:
        r = http.post(
            f"/v1/models/{MODEL}:predict",
            content=BAD_V1[case],
            headers={"Content-Type": "application/json"},
        )
    assert r.status_code == 400, (case, r.status_code, r.text[:300])


def test_unknown_model_and_version_are_404(live: Live, model: LogisticRegression) -> None:
    body = v2_body(np.ones((1, 4)))
    with live.http() as http:
        assert http.post("/v2/models/nope/infer", json=body).status_code == 404
        assert http.post(f"/v2/models/{MODEL}/versions/9/infer", json=body).status_code == 404
        assert (
            http.post("/v1/models/nope:predict", json={"instances": [[1, 2, 3, 4]]}).status_code
            == 404
        )
        assert http.get("/v2/models/nope/ready").status_code == 404


def test_another_users_private_model_is_404(live: Live, model: LogisticRegression) -> None:
    from aiplayground.auth.principal import Role

    bob = live.platform.auth.ensure_user("bob", Role.MEMBER)
    token = live.platform.auth.create_token(bob.id, "t").token
    with httpx.Client(base_url=live.url, headers=live.headers(token)) as http:
        r = http.post(f"/v2/models/{MODEL}/infer", json=v2_body(np.ones((1, 4))))
    assert r.status_code == 404


def test_oversize_body_is_413(live: Live, model: LogisticRegression) -> None:
    limit = live.platform.settings.limits.max_json_bytes
    with live.http() as http:
        r = http.post(
            f"/v1/models/{MODEL}:predict",
            content=b" " * (limit + 1),
            headers={"Content-Type": "application/json"},
        )
        assert r.status_code == 413
        bomb = gzip.compress(b" " * (limit + 1))
        r = http.post(
            f"/v1/models/{MODEL}:predict",
            content=bomb,
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        )
        assert r.status_code == 413


def test_bytes_in_binary_data_roundtrip_is_refused_for_numbers(
    live: Live, model: LogisticRegression
) -> None:
    raw = struct.pack("<I", 3) + b"abc"
    head = json.dumps(
        {
            "inputs": [
                {
                    "name": "input-0",
                    "datatype": "BYTES",
                    "shape": [1],
                    "parameters": {"binary_data_size": len(raw)},
                }
            ]
        }
    ).encode()
    with live.http() as http:
        r = http.post(
            f"/v2/models/{MODEL}/infer",
            content=head + raw,
            headers={"Inference-Header-Content-Length": str(len(head))},
        )
    assert r.status_code == 400
