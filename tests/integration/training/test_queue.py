"""The queue's atomic claim: racing workers take each job exactly once (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from aiplayground.auth.principal import Role
from aiplayground.auth.service import AuthService
from aiplayground.settings import TrainingSettings
from aiplayground.store.db import Database
from aiplayground.store.training_tables import Job
from aiplayground.training.queue import JobQueue
from aiplayground.training.schemas import JobStatus


def _queue_jobs(db: Database, owner: str, count: int) -> list[str]:
    user = AuthService(db).ensure_user(owner, Role.MEMBER)
    with db.session() as s:
        jobs = [
            Job(owner_id=user.id, recipe="steps", model=f"m{i}", time_limit_s=60.0)
            for i in range(count)
        ]
        s.add_all(jobs)
        s.flush()
        return [j.id for j in jobs]


def _race(queue: JobQueue, claimers: int, *, finish: bool) -> list[tuple[str, str, int]]:
    taken: list[tuple[str, str, int]] = []
    lock = threading.Lock()
    start = threading.Barrier(claimers)

    def work(name: str) -> None:
        start.wait()
        while (claim := queue.claim(name, ["local"])) is not None:
            with lock:
                taken.append((claim.job_id, name, claim.attempt))
            if finish:
                assert queue.finish(claim.job_id, claim.attempt, name, JobStatus.SUCCEEDED)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(claimers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return taken


def test_racing_claimers_take_each_job_exactly_once(db: Database) -> None:
    ids = _queue_jobs(db, "alice", 50)
    queue = JobQueue(db, TrainingSettings(max_concurrent_per_user=100))
    taken = _race(queue, 4, finish=True)
    assert sorted(job for job, _, _ in taken) == sorted(ids)
    assert {attempt for _, _, attempt in taken} == {1}
    assert len({worker for _, worker, _ in taken}) > 1  # they really raced


def test_the_per_user_limit_holds_under_a_race(db: Database) -> None:
    _queue_jobs(db, "alice", 10)
    bobs = _queue_jobs(db, "bob", 1)
    queue = JobQueue(db, TrainingSettings(max_concurrent_per_user=2))
    taken = _race(queue, 6, finish=False)
    owners = [job for job, _, _ in taken]
    assert len(owners) == 3
    assert bobs[0] in owners


@pytest.mark.slow
@pytest.mark.postgres
def test_two_worker_processes_run_each_of_50_jobs_once_on_postgresql(
    postgres_url: str, tmp_path: Path
) -> None:
    from aiplayground.app import build_platform
    from tests.integration.training.conftest import training_settings
    from tests.integration.training.workers import start_worker, worker_env

    settings = training_settings(
        tmp_path / "home",
        database_url=postgres_url,
        training={"max_concurrent_per_user": 100, "slots": 3},
    )
    platform = build_platform(settings)
    platform.start()
    try:
        owner = platform.auth.ensure_user("alice", Role.MEMBER)
        with platform.db.session() as s:
            jobs = [
                Job(
                    owner_id=owner.id,
                    recipe="steps",
                    params={"steps": 1, "step_s": 0},
                    model=f"race-{i}",
                    time_limit_s=120.0,
                )
                for i in range(50)
            ]
            s.add_all(jobs)
        ids = {j.id for j in jobs}
        env = worker_env(settings, postgres_url)
        workers = [start_worker(env, tmp_path / f"worker{i}.log") for i in range(2)]
        try:
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline:
                with platform.db.session() as s:
                    rows = s.query(Job.status, Job.attempts, Job.worker_id).all()
                if all(status == "succeeded" for status, _, _ in rows):
                    break
                time.sleep(0.5)
        finally:
            for proc in workers:
                proc.terminate()
                proc.wait(30)
        with platform.db.session() as s:
            done = {j.id: j for j in s.query(Job).all()}
        assert set(done) == ids
        assert all(j.status == "succeeded" and j.attempts == 1 for j in done.values()), [
            (j.status, j.reason) for j in done.values() if j.status != "succeeded"
        ]
        assert {j.model_version for j in done.values()} == {1}
        assert len({j.worker_id for j in done.values()}) == 2  # both workers took jobs
        from sqlalchemy import func, select

        from aiplayground.store.training_tables import JobLog

        with platform.db.session() as s:
            starts = s.scalars(
                select(func.count()).where(JobLog.text.like("%: recipe steps, attempt%"))
            ).one()
        assert starts == 50  # each job's process started once
    finally:
        platform.close()
