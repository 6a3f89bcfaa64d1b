"""Each runtime, with a model trained here on real data, through real clients.

v2 goes through `tritonclient[http]` (JSON and binary tensor data), v1 through plain
httpx; predictions must equal the model's own.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.http as triton

from tests.integration.inference.conftest import Live, publish, signature


def _skops(model: Any) -> bytes:
    import skops.io

    return bytes(skops.io.dumps(model))


def _save(save: Any, name: str) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        save(str(path))
        return path.read_bytes()


@pytest.fixture(scope="module")
def trained(live: Live, iris: tuple[np.ndarray, np.ndarray]) -> dict[str, Any]:
    """Iris classifiers of every must-have runtime, published in the catalog."""
    import lightgbm
    import xgboost
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    x, y = iris
    models: dict[str, Any] = {}

    sk = LogisticRegression(max_iter=1000).fit(x, y)
    publish(
        live,
        "iris-sklearn",
        "sklearn",
        [("model.skops", _skops(sk))],
        {"signature": signature(4), "alias": "production"},
    )
    models["iris-sklearn"] = sk

    xgb = xgboost.XGBClassifier(n_estimators=20, max_depth=3).fit(x, y)
    publish(
        live,
        "iris-xgboost",
        "xgboost",
        [("model.json", _save(xgb.save_model, "m.json"))],
        {"signature": signature(4, "FP32")},
    )
    models["iris-xgboost"] = xgb

    lgb = lightgbm.LGBMClassifier(n_estimators=20, verbose=-1).fit(x, y)
    text = lgb.booster_.model_to_string().encode()
    publish(live, "iris-lightgbm", "lightgbm", [("model.txt", text)], {"signature": signature(4)})
    models["iris-lightgbm"] = lgb

    onx = to_onnx(sk, x[:1].astype(np.float32), options={id(sk): {"zipmap": False}})
    publish(live, "iris-onnx", "onnx", [("model.onnx", onx.SerializeToString())])
    models["iris-onnx"] = onx
    return models


def own_predict(models: dict[str, Any], name: str, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The model's own labels and probabilities for x."""
    model = models[name]
    if name == "iris-onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(model.SerializeToString())
        labels, proba = session.run(None, {"X": x.astype(np.float32)})
        return labels, proba
    return model.predict(x), model.predict_proba(x)


DTYPE = {
    "iris-sklearn": "FP64",
    "iris-xgboost": "FP32",
    "iris-lightgbm": "FP64",
    "iris-onnx": "FP32",
}
RUNTIMES = list(DTYPE)


@pytest.mark.parametrize("name", RUNTIMES)
@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_v2_tritonclient(
    live: Live,
    trained: dict[str, Any],
    iris: tuple[np.ndarray, np.ndarray],
    name: str,
    binary: bool,
) -> None:
    x = iris[0][::7]
    datatype = DTYPE[name]
    client = triton.InferenceServerClient(url=live.host)
    headers = live.headers()
    assert client.is_model_ready(name, headers=headers)
    tensor = triton.InferInput("input-0" if name != "iris-onnx" else "X", list(x.shape), datatype)
    tensor.set_data_from_numpy(
        x.astype(np.float32 if datatype == "FP32" else np.float64), binary_data=binary
    )
    label_name = "label" if name == "iris-onnx" else "output-0"
    proba_name = "probabilities" if name == "iris-onnx" else "predict_proba"
    outputs = [
        triton.InferRequestedOutput(label_name, binary_data=binary),
        triton.InferRequestedOutput(proba_name, binary_data=binary),
    ]
    result = client.infer(name, [tensor], outputs=outputs, headers=headers)
    labels, proba = own_predict(trained, name, x)
    np.testing.assert_array_equal(result.as_numpy(label_name), labels)
    np.testing.assert_allclose(result.as_numpy(proba_name), proba, rtol=1e-5, atol=1e-6)
    client.close()


@pytest.mark.parametrize("name", RUNTIMES)
def test_v1_httpx(
    live: Live, trained: dict[str, Any], iris: tuple[np.ndarray, np.ndarray], name: str
) -> None:
    x = iris[0][::5]
    with live.http() as http:
        status = http.get(f"/v1/models/{name}")
        assert status.status_code == 200, status.text
        assert status.json() == {"name": name, "ready": True}
        answer = http.post(f"/v1/models/{name}:predict", json={"instances": x.tolist()})
    assert answer.status_code == 200, answer.text
    labels, _ = own_predict(trained, name, x)
    predictions = np.asarray(answer.json()["predictions"])
    np.testing.assert_array_equal(predictions, labels)
