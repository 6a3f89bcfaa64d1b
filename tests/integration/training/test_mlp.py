"""The PyTorch MLP recipe: DDP over 2 processes, checkpoints, resume after a rank is killed."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from aiplayground.app import Platform
from aiplayground.training.worker import Worker
from tests.conftest import bearer
from tests.integration.training.conftest import create_dataset, iris_csv, submit, wait_for

pytest.importorskip("torch")
pytestmark = pytest.mark.slow


def _ranks(job_folder: Path) -> dict[int, int]:
    """pid of each rank of a job, from /proc (rank from the environment torchrun gave it)."""
    ranks = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"aiplayground.training.runner" in cmdline and str(job_folder).encode() in cmdline:
            env = dict(e.split(b"=", 1) for e in environ if b"=" in e)
            if b"RANK" in env:
                ranks[int(env[b"RANK"])] = int(proc.name)
    return ranks


def test_ddp_on_two_processes_learns_and_registers_an_onnx_model(
    client: TestClient, alice_token: str, worker: Worker
) -> None:
    create_dataset(client, alice_token, "iris", iris_csv())
    params = {"target": "species", "epochs": 25, "batch_size": 16, "hidden_layers": [16]}
    job = submit(
        client,
        alice_token,
        recipe="mlp",
        dataset="iris",
        model="iris-mlp",
        params=params,
        resources={"processes": 2},
    )
    assert job["executor"] == "torchrun"
    done = wait_for(client, alice_token, job["id"], timeout=180)
    assert done["status"] == "succeeded", done["reason"]
    metrics = client.get(f"/api/v1/jobs/{job['id']}/metrics", headers=bearer(alice_token)).json()
    losses = [value for _, value in metrics["series"]["train_loss"]]
    assert len(losses) == 25
    assert losses[-1] < losses[0] / 2
    assert done["metrics"]["accuracy"] > 0.8
    version = client.get("/api/v1/models/iris-mlp/versions/1", headers=bearer(alice_token)).json()
    assert version["params"]["processes"] == 2
    assert [f["path"] for f in version["files"]] == ["model.onnx"]

    import onnxruntime

    from aiplayground.training.data import split_rows

    frame = __import__("pandas").read_csv(__import__("io").BytesIO(iris_csv()))
    _, valid = split_rows(frame["species"].to_numpy(), 0.2, 0, stratify=True)
    download = client.get(
        "/api/v1/models/iris-mlp/versions/1/files/model.onnx", headers=bearer(alice_token)
    )
    session = onnxruntime.InferenceSession(download.content)
    x = frame.drop(columns="species").to_numpy(np.float32)[valid]
    predicted, _ = session.run(["predict", "predict_proba"], {"input-0": x})
    classes = version["params"]["classes"]
    truth = frame["species"].to_numpy()[valid]
    accuracy = float(np.mean(np.array(classes)[predicted] == truth))
    assert accuracy == pytest.approx(done["metrics"]["accuracy"], abs=1e-6)


def test_a_killed_rank_leads_to_a_retry_from_the_checkpoint(
    client: TestClient, alice_token: str, platform: Platform, worker: Worker
) -> None:
    create_dataset(client, alice_token, "iris", iris_csv())
    params = {"target": "species", "epochs": 400, "batch_size": 4, "hidden_layers": [16]}
    job = submit(
        client,
        alice_token,
        recipe="mlp",
        dataset="iris",
        model="iris-mlp",
        params=params,
        resources={"processes": 2, "cpus": 1},
    )
    folder = platform.settings.resolved_home / "jobs" / job["id"]
    checkpoint = folder / "checkpoints" / "last.pt"
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)
    ranks = _ranks(folder)
    assert set(ranks) == {0, 1}, ranks
    os.kill(ranks[1], signal.SIGKILL)
    done = wait_for(client, alice_token, job["id"], timeout=300)
    assert done["status"] == "succeeded", done["reason"]
    assert done["attempts"] == 2
    log = client.get(f"/api/v1/jobs/{job['id']}/logs", headers=bearer(alice_token)).text
    assert "attempt 1 failed" in log
    assert "retrying" in log
    assert "attempt 2" in log
    assert "resumed from the checkpoint of epoch" in log
    metrics = client.get(f"/api/v1/jobs/{job['id']}/metrics", headers=bearer(alice_token)).json()
    assert "resumed_from_epoch" in metrics["series"]
