"""Training fixtures: fast worker settings, the training routes, a worker thread, iris as CSV."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from aiplayground.app import Platform
from aiplayground.settings import Settings
from aiplayground.training.worker import Worker
from tests.conftest import bearer

REPO = Path(__file__).resolve().parents[3]
STEPS = "tests.integration.training.steps_recipe"
FAST: dict[str, Any] = {
    "poll_interval_s": 0.05,
    "heartbeat_interval_s": 0.2,
    "heartbeat_timeout_s": 1.5,
    "cancel_grace_s": 1.0,
    "extra_recipes": [STEPS],
}
ENDED = ("succeeded", "failed", "cancelled")


def training_settings(home: Path, **changes: Any) -> Settings:
    """Settings for tests: API only, no demo, a worker that reacts in fractions of a second."""
    training = {**FAST, **changes.pop("training", {})}
    return Settings(
        home=home,
        demo=False,
        server={"ui": False},  # type: ignore[arg-type]
        training=training,  # type: ignore[arg-type]
        **changes,
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Overrides the suite's settings: fast training worker, the test recipe offered."""
    return training_settings(tmp_path / "home")


@pytest.fixture(autouse=True)
def _job_processes_import_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    # Job processes inherit PYTHONPATH (and little else): the test recipe lives in tests/.
    monkeypatch.setenv("PYTHONPATH", str(REPO))


class WorkerThread:
    """A worker running in this process (its jobs are still separate processes)."""

    def __init__(self, platform: Platform, slots: int | None = None) -> None:
        self.worker = Worker(platform, slots=slots)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.worker.run, args=(self.stop,), daemon=True)

    def __enter__(self) -> Worker:
        self.thread.start()
        return self.worker

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(30)


@pytest.fixture
def worker(platform: Platform) -> Iterator[Worker]:
    """One worker on the test platform."""
    with WorkerThread(platform) as running:
        yield running


def wait_for(
    client: TestClient,
    token: str,
    job_id: str,
    until: Callable[[dict[str, Any]], bool] = lambda job: job["status"] in ENDED,
    timeout: float = 60.0,
) -> dict[str, Any]:
    """Poll a job until `until(job)` holds (by default: it has ended)."""
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = client.get(f"/api/v1/jobs/{job_id}", headers=bearer(token)).json()
        if until(job):
            return job
        if time.monotonic() > deadline:
            pytest.fail(f"job {job_id} did not get there in {timeout} s: {job}")
        time.sleep(0.05)


def submit(client: TestClient, token: str, **body: Any) -> dict[str, Any]:
    """Submit a job and check it was queued."""
    response = client.post("/api/v1/jobs", json=body, headers=bearer(token))
    assert response.status_code == 201, response.text
    job: dict[str, Any] = response.json()
    assert job["status"] == "queued"
    return job


def iris_csv() -> bytes:
    """Iris as a CSV with a text label column."""
    from sklearn.datasets import load_iris

    frame = load_iris(as_frame=True).frame
    frame["species"] = load_iris().target_names[frame.pop("target")]
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode()


def create_dataset(
    client: TestClient, token: str, name: str, data: bytes, filename: str = "data.csv"
) -> None:
    """A CSV dataset with one version."""
    fmt = "parquet" if filename.endswith(".parquet") else "csv"
    created = client.post(
        "/api/v1/datasets", json={"name": name, "format": fmt}, headers=bearer(token)
    )
    assert created.status_code == 201, created.text
    uploaded = client.post(
        f"/api/v1/datasets/{name}/versions",
        files=[("file", (filename, data, "application/octet-stream"))],
        headers=bearer(token),
    )
    assert uploaded.status_code == 201, uploaded.text
