"""Remote KServe endpoints served by forwarding; a crashing model over HTTP; the SDK and CLI."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import skops.io
import typer
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

from aiplayground.sdk import Client
from tests.integration.inference.conftest import Live, publish, signature
from tests.integration.inference.test_workers import crafted_skops

TARGET = "remote-target"


@pytest.fixture(scope="module")
def target(live: Live, iris: tuple[np.ndarray, np.ndarray]) -> LogisticRegression:
    """A local model that the remote endpoints below point at (this same server)."""
    x, y = iris
    model = LogisticRegression(max_iter=1000).fit(x, y)
    publish(
        live,
        TARGET,
        "sklearn",
        [("model.skops", skops.io.dumps(model))],
        {"signature": signature(4)},
    )
    with live.http() as http:  # loaded now: registering an endpoint probes it with a timeout
        assert http.get(f"/v2/models/{TARGET}/ready").status_code == 200
    return model


def register(live: Live, name: str, url: str, protocol: str, check: bool = True) -> None:
    body = {
        "name": name,
        "url": url,
        "protocol": protocol,
        "remote_name": TARGET,
        "api_key": live.token,
        "check": check,
    }
    with live.http() as http:
        r = http.post("/api/v1/models/endpoints", json=body)
    assert r.status_code == 201, r.text
    assert live.token not in r.text


@pytest.fixture(scope="module")
def remotes(live: Live, target: LogisticRegression) -> None:
    register(live, "remote-v2", live.url, "kserve-v2")
    register(live, "remote-v1", live.url, "kserve-v1")


def test_remote_v2_endpoint_serves_both_protocols(
    live: Live, target: LogisticRegression, remotes: None, iris: tuple[np.ndarray, np.ndarray]
) -> None:
    x = iris[0][::9]
    tensor = {
        "name": "input-0",
        "datatype": "FP64",
        "shape": list(x.shape),
        "data": x.ravel().tolist(),
    }
    with live.http() as http:
        v2 = http.post("/v2/models/remote-v2/infer", json={"inputs": [tensor]})
        v1 = http.post("/v1/models/remote-v2:predict", json={"instances": x.tolist()})
        meta = http.get("/v2/models/remote-v2")
        ready = http.get("/v2/models/remote-v2/ready")
    assert v2.status_code == 200, v2.text
    assert v2.json()["model_name"] == "remote-v2"
    assert v2.json()["outputs"][0]["data"] == target.predict(x).tolist()
    assert v1.json()["predictions"] == target.predict(x).tolist()
    assert meta.json()["name"] == "remote-v2"
    assert meta.json()["inputs"][0]["shape"] == [-1, 4]
    assert ready.json()["ready"] is True


def test_remote_v1_endpoint_passes_bodies_through(
    live: Live, target: LogisticRegression, remotes: None, iris: tuple[np.ndarray, np.ndarray]
) -> None:
    x = iris[0][::11]
    with live.http() as http:
        v1 = http.post("/v1/models/remote-v1:predict", json={"instances": x.tolist()})
        tensor = {
            "name": "x",
            "datatype": "FP64",
            "shape": list(x.shape),
            "data": x.ravel().tolist(),
        }
        v2 = http.post("/v2/models/remote-v1/infer", json={"inputs": [tensor]})
        bad = http.post("/v1/models/remote-v1:predict", json={"instances": [[1, 2]]})
    assert v1.json()["predictions"] == target.predict(x).tolist()
    assert v2.json()["outputs"][0]["data"] == target.predict(x).tolist()
    assert bad.status_code == 400  # the remote's refusal of the input, not a 502
    assert "remote" in bad.json()["error"]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()


def test_unreachable_and_silent_endpoints_are_502_and_504(
    live: Live, target: LogisticRegression, silent_port: int
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    register(live, "remote-closed", f"http://127.0.0.1:{closed}", "kserve-v2", check=False)
    register(live, "remote-silent", f"http://127.0.0.1:{silent_port}", "kserve-v2", check=False)
    body = {"inputs": [{"name": "x", "datatype": "FP64", "shape": [1, 4], "data": [1, 2, 3, 4]}]}
    with live.http() as http:
        assert http.post("/v2/models/remote-closed/infer", json=body).status_code == 502
        assert http.post("/v2/models/remote-silent/infer", json=body).status_code == 504
        assert http.get("/v2/health/live").status_code == 200


def test_a_model_that_crashes_on_load_is_reported_failed_over_http(
    live: Live, target: LogisticRegression
) -> None:
    publish(
        live, "crashy", "sklearn", [("model.skops", crafted_skops("os._exit", 3))], trusted=True
    )
    body = {"instances": [[1.0, 2.0, 3.0, 4.0]]}
    with live.http() as http:
        crashed = http.post("/v1/models/crashy:predict", json=body)
        assert crashed.status_code == 503, crashed.text
        assert "crashy" in crashed.json()["error"]
        assert http.get("/v2/models/crashy/ready").json() == {"name": "crashy", "ready": False}
        assert http.get("/healthz").status_code == 200
        ok = http.post(f"/v1/models/{TARGET}:predict", json=body)
        assert ok.status_code == 200
    assert live.service.state("crashy", 1) == "failed"


def test_sdk_and_cli(
    live: Live,
    target: LogisticRegression,
    iris: tuple[np.ndarray, np.ndarray],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    x = iris[0][:3]
    with Client(live.url, live.token) as client:
        assert client.infer(TARGET, x, protocol="v1")["predictions"] == target.predict(x).tolist()
        answer = client.infer(TARGET, x, version=1)
        assert answer["outputs"][0]["data"] == target.predict(x).tolist()
        assert client.model_metadata(TARGET)["inputs"][0]["name"] == "input-0"
        assert client.model_ready(TARGET)
        with pytest.raises(Exception, match="nope") as caught:
            client.infer("nope", x)
        assert type(caught.value).__name__ == "NotFound"

    from aiplayground.cli import infer as infer_cli

    app = typer.Typer()
    app.command()(infer_cli.infer)
    csv = tmp_path / "rows.csv"
    csv.write_text("a,b,c,d\n" + "\n".join(",".join(map(str, row)) for row in x))
    runner = CliRunner()
    for data, protocol in [
        (str(csv), "v1"),
        (json.dumps({"instances": x.tolist()}), "v1"),
        (json.dumps(x.tolist()), "v2"),
    ]:
        result = runner.invoke(
            app,
            [
                TARGET,
                "--data",
                data,
                "--protocol",
                protocol,
                "--url",
                live.url,
                "--token",
                live.token,
            ],
        )
        assert result.exit_code == 0, result.output
        out = json.loads(result.output)
        got = out["predictions"] if protocol == "v1" else out["outputs"][0]["data"]
        assert got == target.predict(x).tolist()
    failed = runner.invoke(
        app, ["nope", "--data", "[[1,2,3,4]]", "--url", live.url, "--token", live.token]
    )
    assert failed.exit_code == 1
