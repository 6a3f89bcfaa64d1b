"""The must-have: a tabular job on a CSV dataset succeeds and its model answers as reported."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from aiplayground.app import Platform
from aiplayground.training.data import split_rows
from aiplayground.training.worker import Worker
from tests.conftest import bearer
from tests.integration.training.conftest import create_dataset, iris_csv, submit, wait_for


def _validation_rows(csv: bytes, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    frame = pd.read_csv(io.BytesIO(csv))
    _, valid = split_rows(frame["species"].to_numpy(), fraction, seed, stratify=True)
    rows = frame.iloc[valid]
    return rows.drop(columns="species").to_numpy(), rows["species"].to_numpy()


def test_csv_job_registers_a_version_that_serves_the_reported_accuracy(
    client: TestClient, alice_token: str, platform: Platform, app: object, worker: Worker
) -> None:
    csv = iris_csv()
    create_dataset(client, alice_token, "iris", csv, "iris.csv")
    params = {"target": "species", "library": "sklearn", "validation_fraction": 0.3, "seed": 7}
    job = submit(
        client, alice_token, recipe="tabular", dataset="iris", model="iris-clf", params=params
    )
    done = wait_for(client, alice_token, job["id"])
    assert done["status"] == "succeeded", done["reason"]
    assert done["model_version"] == 1
    assert done["attempts"] == 1
    assert done["progress"] == 1.0
    accuracy = done["metrics"]["accuracy"]
    assert accuracy > 0.9

    version = client.get("/api/v1/models/iris-clf/versions/1", headers=bearer(alice_token)).json()
    assert version["lineage"] == {"dataset": "iris", "dataset_version": 1, "job_id": job["id"]}
    assert version["metrics"]["accuracy"] == accuracy
    assert version["params"]["recipe"] == "tabular"
    assert version["params"]["features"] == [
        "sepal length (cm)",
        "sepal width (cm)",
        "petal length (cm)",
        "petal width (cm)",
    ]
    model = client.get("/api/v1/models/iris-clf", headers=bearer(alice_token)).json()
    assert (model["format"], model["objective"], model["owner"]) == (
        "sklearn",
        "classification",
        "alice",
    )

    logs = client.get(f"/api/v1/jobs/{job['id']}/logs", headers=bearer(alice_token))
    assert "validation: accuracy=" in logs.text
    assert logs.headers["x-job-ended"] == "true"
    metrics = client.get(f"/api/v1/jobs/{job['id']}/metrics", headers=bearer(alice_token)).json()
    assert metrics["series"]["validation_accuracy"][-1][1] == accuracy

    # The served model, asked about the validation rows, is right as often as the job said.
    x, labels = _validation_rows(csv, 0.3, 7)
    try:
        from tests.integration.inference.conftest import attach_inference
    except ImportError:
        pytest.skip("the inference routes are not in this tree")
    attach_inference(platform, app)  # type: ignore[arg-type]
    answer = client.post(
        "/v1/models/iris-clf:predict",
        json={"instances": x.tolist()},
        headers=bearer(alice_token),
    )
    assert answer.status_code == 200, answer.text
    predictions = np.array(answer.json()["predictions"])
    assert float(np.mean(predictions == labels)) == pytest.approx(accuracy)
