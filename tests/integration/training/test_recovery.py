"""Reliability: a worker killed mid-job, a worker stopped, a job that keeps losing workers."""

from __future__ import annotations

import json
import signal
import time
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import update

from aiplayground.app import Platform
from aiplayground.settings import Settings
from aiplayground.store.tables import utcnow
from aiplayground.store.training_tables import Job
from aiplayground.training.queue import JobQueue
from tests.conftest import bearer
from tests.integration.training.conftest import WorkerThread, submit, wait_for
from tests.integration.training.test_jobs_api import _gone, _job_pid
from tests.integration.training.workers import start_worker, worker_env


def _checkpointed_step(platform: Platform, job_id: str) -> int:
    state = platform.settings.resolved_home / "jobs" / job_id / "checkpoints" / "state.json"
    try:
        return int(json.loads(state.read_text())["step"])
    except (FileNotFoundError, ValueError):
        return 0


def test_sigkill_of_the_worker_retries_the_job_from_its_checkpoint(
    client: TestClient, alice_token: str, platform: Platform, settings: Settings, tmp_path: Path
) -> None:
    env = worker_env(settings)
    first = start_worker(env, tmp_path / "worker1.log")
    second = None
    try:
        params = {"steps": 30, "step_s": 0.1}
        job = submit(client, alice_token, recipe="steps", model="counted", params=params)
        pid = _job_pid(platform, job["id"])
        deadline = time.monotonic() + 30
        while _checkpointed_step(platform, job["id"]) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        deadline = time.monotonic() + 5
        while not _gone(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _gone(pid), "the job process outlived its worker"
        reached = _checkpointed_step(platform, job["id"])
        assert 3 <= reached < 30

        second = start_worker(env, tmp_path / "worker2.log")
        done = wait_for(client, alice_token, job["id"], timeout=60)
        assert done["status"] == "succeeded", done["reason"]
        assert done["attempts"] == 2
        log = client.get(f"/api/v1/jobs/{job['id']}/logs", headers=bearer(alice_token)).text
        assert f"resumed at step {reached}" in log
        assert "attempt 2" in log
        assert "from its last checkpoint" in log
        version = client.get("/api/v1/models/counted/versions/1", headers=bearer(alice_token))
        assert version.json()["params"]["resumed_at"] == reached
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(30)


def test_a_stopped_worker_gives_its_job_back(
    client: TestClient, alice_token: str, platform: Platform
) -> None:
    job = submit(client, alice_token, recipe="steps", model="counted", params={"steps": 10_000})
    with WorkerThread(platform):
        pid = _job_pid(platform, job["id"])
    assert _gone(pid)
    back = client.get(f"/api/v1/jobs/{job['id']}", headers=bearer(alice_token)).json()
    assert (back["status"], back["attempts"]) == ("queued", 0)
    assert "queued again" in back["reason"]


def test_a_job_that_keeps_losing_its_worker_fails_instead_of_staying_running(
    client: TestClient, alice_token: str, platform: Platform
) -> None:
    job = submit(client, alice_token, recipe="steps", model="counted")
    queue = JobQueue(platform.db, platform.settings.training)

    def lose_worker() -> None:
        with platform.db.session() as s:
            s.execute(
                update(Job)
                .where(Job.id == job["id"])
                .values(heartbeat_at=utcnow() - timedelta(seconds=60))
            )
        assert queue.requeue_stale() == [job["id"]]

    for attempt in range(1, 4):
        claim = queue.claim(f"ghost-{attempt}", ["local"])
        assert claim is not None
        assert claim.attempt == attempt
        lose_worker()
    failed = client.get(f"/api/v1/jobs/{job['id']}", headers=bearer(alice_token)).json()
    assert failed["status"] == "failed"
    assert "worker was lost" in failed["reason"]
    assert failed["attempts"] == 3
    # The ghost's late report is fenced off.
    from aiplayground.training.schemas import JobStatus

    assert not queue.finish(job["id"], 3, "ghost-3", JobStatus.SUCCEEDED)
