"""ROOT over HTTP: dataset summaries, predictions on a ROOT file, clear 4xx for bad files."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import httpx
import numpy as np
import pyarrow.parquet as pq
import pytest
import uproot
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from aiplayground.app import Platform
from aiplayground.auth.principal import Principal, Role
from aiplayground.catalog.files import IncomingFile
from aiplayground.catalog.schemas import DatasetCreate, DatasetFormat, DatasetVersionMetadata
from aiplayground.cli import hep as hep_cli
from aiplayground.errors import ValidationFailed
from aiplayground.hep.demo import HZZ, MODEL_NAME, ZMUMU, load_hep_demo
from aiplayground.sdk import Client
from tests.conftest import bearer, make_token
from tests.inprocess import InProcessTransport


@pytest.fixture
def admin(platform: Platform) -> tuple[Principal, str]:
    token = make_token(platform, "admin", Role.ADMIN)
    user = platform.auth.get_user("admin")
    return Principal(user_id=user.id, name=user.name, role=Role.ADMIN), token


def _dataset(platform: Platform, owner: Principal, name: str, path: Path) -> None:
    platform.datasets.create(owner, DatasetCreate(name=name, format=DatasetFormat.ROOT))
    platform.datasets.add_version(
        owner, name, [IncomingFile(path.name, path)], DatasetVersionMetadata()
    )


def test_root_summary_and_bad_files(
    app: FastAPI, platform: Platform, admin: tuple[Principal, str], tmp_path: Path
) -> None:
    owner, token = admin
    _dataset(platform, owner, "hzz", HZZ)
    broken = tmp_path / "broken.root"
    broken.write_bytes(HZZ.read_bytes()[:120_000])
    # The catalog itself refuses a truncated ROOT dataset, so no summary can meet one.
    with pytest.raises(ValidationFailed, match="truncated"):
        _dataset(platform, owner, "broken", broken)
    with TestClient(app) as client:
        response = client.get("/api/v1/datasets/hzz/versions/1/root-summary", headers=bearer(token))
        assert response.status_code == 200, response.text
        (file,) = response.json()["files"]
        (tree,) = file["trees"]
        assert tree["entries"] == 2421
        muon = next(b for b in tree["branches"] if b["name"] == "Muon_Px")
        assert muon["jagged"]
        assert sum(muon["summary"]["multiplicity"]["counts"]) == 2421
        sdk = Client("http://testserver", token, transport=InProcessTransport(app))
        assert sdk.root_summary("hzz", 1, tree="events")["files"][0]["trees"][0]["name"] == "events"
        missing = client.get(
            "/api/v1/datasets/hzz/versions/1/root-summary?tree=nope", headers=bearer(token)
        )
        assert missing.status_code == 400
        assert "nope" in missing.json()["error"]["message"]


def test_predict_root_on_zmumu(
    app: FastAPI,
    platform: Platform,
    admin: tuple[Principal, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    owner, token = admin
    load_hep_demo(platform, owner)
    version = platform.models.resolve(owner, MODEL_NAME, None)[1]
    assert version is not None
    assert version.metrics["val_accuracy"] > 0.85
    url = f"/api/v1/models/{MODEL_NAME}/predict-root"
    data = ZMUMU.read_bytes()
    with TestClient(app) as client:

        def post(fmt: str, payload: bytes = data, **fields: str):  # type: ignore[no-untyped-def]
            files = {"file": ("zmumu.root", payload, "application/octet-stream")}
            return client.post(
                url, files=files, data={"format": fmt, **fields}, headers=bearer(token)
            )

        answer = post("json", tree="events")
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["count"] == len(body["predictions"]) == 2304
        assert body["entries"] == list(range(2304))
        # Mostly Z->mumu (class 0): the classifier generalizes to the whole file.
        assert sum(body["predictions"]) / 2304 < 0.2

        csv = post("csv")
        assert csv.status_code == 200
        assert csv.text.splitlines()[0] == '"entry","prediction"'
        assert len(csv.text.splitlines()) == 2305
        table = pq.read_table(io.BytesIO(post("parquet").content))
        assert table.num_rows == 2304

        rooted = post("root")
        assert rooted.status_code == 200, rooted.text
        out = tmp_path / "out.root"
        out.write_bytes(rooted.content)
        tree = uproot.open(out)["events"]
        assert tree.num_entries == 2304
        assert "prediction" in tree
        assert "px1" in tree
        assert tree["prediction"].array(library="np").tolist() == body["predictions"]

        proba = post("json", output="predict_proba")
        assert proba.status_code == 200, proba.text
        probabilities = np.asarray(proba.json()["predictions"])
        assert proba.json()["output"] == "predict_proba"
        assert probabilities.shape == (2304, 2)
        assert np.allclose(probabilities.sum(axis=1), 1)
        assert probabilities.argmax(axis=1).tolist() == body["predictions"]
        assert body["output"] not in ("", "predict_proba")  # the default output: labels
        proba_csv = post("csv", output="predict_proba")
        assert proba_csv.text.splitlines()[0] == '"entry","prediction_0","prediction_1"'
        proba_root = tmp_path / "proba.root"
        proba_root.write_bytes(post("root", output="predict_proba").content)
        branches = uproot.open(proba_root)["events"].arrays(
            ["prediction_0", "prediction_1"], library="np"
        )
        assert np.allclose(branches["prediction_1"], probabilities[:, 1])
        unknown = post("json", output="logits")
        assert unknown.status_code == 400
        assert "logits" in unknown.json()["error"]["message"]

        # Through the test client, whose event loop the model worker answers on.
        def forward(request: httpx.Request) -> httpx.Response:
            sent = client.request(
                request.method, str(request.url), headers=request.headers, content=request.read()
            )
            return httpx.Response(sent.status_code, headers=sent.headers, content=sent.content)

        sdk = Client("http://testserver", token, transport=httpx.MockTransport(forward))
        via_sdk = sdk.predict_root(MODEL_NAME, ZMUMU, output="predict_proba")
        assert isinstance(via_sdk, dict)
        assert np.allclose(via_sdk["predictions"], probabilities)
        monkeypatch.setattr(hep_cli, "connect", lambda *_: contextlib.nullcontext(sdk))
        cli = CliRunner().invoke(
            hep_cli.hep_app, ["predict", MODEL_NAME, str(ZMUMU), "--probabilities"]
        )
        assert cli.exit_code == 0, cli.output
        assert np.allclose(json.loads(cli.stdout)["predictions"], probabilities)

        truncated = post("json", payload=data[: len(data) // 2])
        assert truncated.status_code == 422, truncated.text
        wrong_tree = post("json", tree="Events")
        assert wrong_tree.status_code == 400
        assert "Events" in wrong_tree.json()["error"]["message"]
        nano = Path(shutil.copy(HZZ.parent / "nanoAOD_2015_CMS_Open_Data_ttbar.root", tmp_path))
        no_muons = post("json", payload=nano.read_bytes(), tree="Events")
        assert no_muons.status_code == 400
        assert "no layout of collection 'muon'" in no_muons.json()["error"]["message"]
