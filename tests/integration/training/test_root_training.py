"""Training on ROOT datasets through the API: per-file and branch labels, then predict-root.

The HZZ and Zmumu files are the real scikit-hep-testdata samples the package ships as demo
data (copies of shared/data/hep/); the jets file is written by the test with uproot.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import uproot
from fastapi.testclient import TestClient

from aiplayground.hep.demo import HZZ, ZMUMU, muon_preprocessing
from aiplayground.training.worker import Worker
from tests.conftest import bearer
from tests.integration.training.conftest import submit, wait_for
from tests.unit.training.test_root_loader import jets_preprocessing, write_jets_file

PER_FILE = {"uproot-HZZ.root": 1, "uproot-Zmumu.root": 0}


def root_dataset(client: TestClient, token: str, name: str, *paths: Path) -> None:
    """A ROOT dataset whose one version holds the given files."""
    created = client.post(
        "/api/v1/datasets", json={"name": name, "format": "root"}, headers=bearer(token)
    )
    assert created.status_code == 201, created.text
    uploaded = client.post(
        f"/api/v1/datasets/{name}/versions",
        files=[("file", (p.name, p.read_bytes(), "application/octet-stream")) for p in paths],
        headers=bearer(token),
    )
    assert uploaded.status_code == 201, uploaded.text


def predict_root(client: TestClient, token: str, model: str, path: Path) -> dict[str, Any]:
    """predict-root's JSON answer for one file."""
    answer = client.post(
        f"/api/v1/models/{model}/predict-root",
        files={"file": (path.name, path.read_bytes(), "application/octet-stream")},
        data={"format": "json"},
        headers=bearer(token),
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_signal_and_background_files_train_a_model_that_predicts_on_root(
    client: TestClient, alice_token: str, worker: Worker, tmp_path: Path
) -> None:
    root_dataset(client, alice_token, "hzz-zmumu", HZZ, ZMUMU)
    pre = muon_preprocessing().model_dump(mode="json", exclude={"tree"})
    params = {
        "label_by_file": PER_FILE,
        "preprocessing": pre,
        "library": "sklearn",
        "estimator": "random_forest",
        "n_estimators": 50,
        "validation_fraction": 0.3,
        "chunk_mb": 0.05,  # several chunks per file: the streaming path, not one read
    }
    job = submit(
        client, alice_token, recipe="tabular", dataset="hzz-zmumu", model="muons", params=params
    )
    done = wait_for(client, alice_token, job["id"], timeout=120)
    assert done["status"] == "succeeded", done["reason"]
    assert done["metrics"]["accuracy"] > 0.8
    assert done["metrics"]["roc_auc"] > 0.8

    version = client.get("/api/v1/models/muons/versions/1", headers=bearer(alice_token)).json()
    names = muon_preprocessing().feature_names()
    # The tree was found in the files (the preprocessing sent none) and stored with the steps.
    assert version["params"]["preprocessing"] == muon_preprocessing().model_dump(mode="json")
    assert version["params"]["feature_names"] == names
    assert version["params"]["events"] == {"uproot-HZZ.root": 1413, "uproot-Zmumu.root": 2304}
    assert version["params"]["classes"] == ["0", "1"]
    logs = client.get(f"/api/v1/jobs/{job['id']}/logs", headers=bearer(alice_token)).text
    assert "3717 events x 9 features from 2 ROOT file(s), tree 'events'" in logs

    body = predict_root(client, alice_token, "muons", ZMUMU)
    # Every Zmumu event has two muons, so every event is kept and gets one prediction.
    assert body["count"] == len(body["predictions"]) == 2304
    assert body["entries"] == list(range(2304))
    assert np.mean(body["predictions"]) < 0.2  # mostly background (class 0)
    hzz = predict_root(client, alice_token, "muons", HZZ)
    assert hzz["count"] == 1413
    assert np.mean(hzz["predictions"]) > 0.8

    # The ROOT download (what `aiplayground hep predict --out x.root` asks for) agrees.
    rooted = client.post(
        "/api/v1/models/muons/predict-root",
        files={"file": (ZMUMU.name, ZMUMU.read_bytes(), "application/octet-stream")},
        data={"format": "root"},
        headers=bearer(alice_token),
    )
    assert rooted.status_code == 200, rooted.text
    out = tmp_path / "zmumu-predictions.root"
    out.write_bytes(rooted.content)
    tree = uproot.open(out)["events"]
    assert tree["prediction"].array(library="np").tolist() == body["predictions"]


def test_label_branch_on_a_written_file_with_xgboost(
    client: TestClient, alice_token: str, worker: Worker, tmp_path: Path
) -> None:
    jets = write_jets_file(tmp_path / "jets.root", events=800)
    root_dataset(client, alice_token, "jets", jets)
    params = {
        "target": "label",
        "preprocessing": jets_preprocessing().model_dump(mode="json"),
        "library": "xgboost",
        "n_estimators": 30,
        "max_depth": 3,
        "seed": 3,
    }
    job = submit(client, alice_token, recipe="tabular", dataset="jets", model="jets", params=params)
    done = wait_for(client, alice_token, job["id"], timeout=120)
    assert done["status"] == "succeeded", done["reason"]
    assert done["metrics"]["accuracy"] > 0.8
    version = client.get("/api/v1/models/jets/versions/1", headers=bearer(alice_token)).json()
    assert version["params"]["target"] == "label"
    assert version["params"]["feature_names"] == jets_preprocessing().feature_names()
    # An FP32 model (XGBoost's signature) takes the ROOT file's rows too.
    body = predict_root(client, alice_token, "jets", jets)
    truth = uproot.open(jets)["events"]["label"].array(library="np")
    assert body["count"] == 800
    assert np.mean(np.asarray(body["predictions"]) == truth) > 0.8


@pytest.mark.slow
def test_mlp_on_a_root_dataset(client: TestClient, alice_token: str, worker: Worker) -> None:
    pytest.importorskip("torch")
    root_dataset(client, alice_token, "hzz-zmumu", HZZ, ZMUMU)
    params = {
        "label_by_file": {"uproot-HZZ.root": "hzz", "uproot-Zmumu.root": "zmumu"},
        "preprocessing": muon_preprocessing().model_dump(mode="json"),
        "epochs": 40,
        "batch_size": 64,
        "hidden_layers": [64, 64],
        "learning_rate": 0.003,
    }
    job = submit(
        client, alice_token, recipe="mlp", dataset="hzz-zmumu", model="muons-mlp", params=params
    )
    done = wait_for(client, alice_token, job["id"], timeout=180)
    assert done["status"] == "succeeded", done["reason"]
    assert done["metrics"]["accuracy"] > 0.8
    body = predict_root(client, alice_token, "muons-mlp", ZMUMU)
    # The ONNX graph answers class indices into the stored classes ["hzz", "zmumu"].
    assert body["count"] == 2304
    assert np.mean(body["predictions"]) > 0.8


def test_bad_inputs_are_refused_or_fail_with_the_reason(
    client: TestClient, alice_token: str, worker: Worker
) -> None:
    root_dataset(client, alice_token, "hzz-zmumu", HZZ, ZMUMU)
    pre = muon_preprocessing().model_dump(mode="json")

    def post(**params: Any) -> Any:
        body = {"recipe": "tabular", "dataset": "hzz-zmumu", "model": "m", "params": params}
        return client.post("/api/v1/jobs", json=body, headers=bearer(alice_token))

    both = post(target="NJet", label_by_file=PER_FILE, preprocessing=pre)
    assert both.status_code == 422
    assert both.json()["error"]["details"]["field"] == "params.label_by_file"
    assert "not both" in both.json()["error"]["message"]
    assert post(preprocessing=pre).status_code == 422  # no label source at all
    bad_pre = post(label_by_file=PER_FILE, preprocessing={"features": []})
    assert bad_pre.status_code == 422
    assert bad_pre.json()["error"]["details"]["field"].startswith("params.preprocessing")
    regression = post(label_by_file=PER_FILE, preprocessing=pre, task="regression")
    assert regression.json()["error"]["details"]["field"] == "params.task"

    reasons = {
        "not in the dataset": {
            "label_by_file": {"signal.root": 1, "uproot-Zmumu.root": 0},
            "preprocessing": pre,
        },
        "missing branch": {"label_by_file": PER_FILE, "features": ["Muon_Pt"]},
        "single class": {"label_by_file": dict.fromkeys(PER_FILE, 1), "preprocessing": pre},
    }
    jobs = {
        why: submit(
            client, alice_token, recipe="tabular", dataset="hzz-zmumu", model="m", params=params
        )["id"]
        for why, params in reasons.items()
    }
    failed = {why: wait_for(client, alice_token, job_id) for why, job_id in jobs.items()}
    assert all(job["status"] == "failed" for job in failed.values()), failed
    assert (
        "'signal.root', which is not a ROOT file of the dataset"
        in (failed["not in the dataset"]["reason"])
    )
    assert (
        "uproot-HZZ.root: tree 'events' has no branch 'Muon_Pt'"
        in (failed["missing branch"]["reason"])
    )
    assert "single class" in failed["single class"]["reason"]
