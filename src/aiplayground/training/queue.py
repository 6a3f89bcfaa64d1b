"""The job queue: the `jobs` table, claimed atomically by any number of workers.

PostgreSQL: `SELECT ... FOR UPDATE SKIP LOCKED`, so workers on many hosts never wait on
each other, and a per-owner advisory lock so the per-user limit holds under races.
SQLite: one `UPDATE ... WHERE id = (SELECT ...) AND status = 'queued' RETURNING`, atomic
because SQLite runs one writer at a time.

Every change a worker makes to a running job is fenced by (worker id, attempt): a worker
presumed dead whose job was handed to another cannot overwrite the new attempt.

A search job (recipe "hpo") is claimed and heartbeated like any job, but it holds no
process: it does not count against its owner's running jobs, and a lost worker's search
is always queued again (its trials, child jobs, run on regardless).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, func, insert, select, text, update
from sqlalchemy.orm import Session, aliased

from aiplayground.settings import TrainingSettings
from aiplayground.store.db import Database
from aiplayground.store.tables import utcnow
from aiplayground.store.training_tables import Job, JobLog, JobMetric
from aiplayground.training.schemas import SEARCH_RECIPE, TERMINAL, JobStatus

log = logging.getLogger(__name__)

QUEUED, RUNNING = JobStatus.QUEUED.value, JobStatus.RUNNING.value
CANCELLED = JobStatus.CANCELLED.value
OWNER_RETRIES = 8
_ANY_QUEUED = (
    select(Job.id)
    .where(Job.status == QUEUED, Job.executor.in_(bindparam("kinds", expanding=True)))
    .limit(1)
)


@dataclass(frozen=True)
class Claim:
    """A job a worker now runs, as attempt number `attempt`."""

    job_id: str
    attempt: int
    owner_id: str
    recipe: str
    params: dict[str, Any]
    dataset: str | None
    dataset_version: int | None
    model: str
    executor: str
    resources: dict[str, Any]
    time_limit_s: float
    log_bytes: int
    description: str
    max_attempts: int


@dataclass(frozen=True)
class Child:
    """A child job of a search, as its driver needs it."""

    id: str
    status: str
    reason: str
    summary: dict[str, Any]
    model_version: int | None


@dataclass(frozen=True)
class Beat:
    """What a heartbeat learned about one of the worker's jobs."""

    still_ours: bool
    cancel_requested: bool


class JobQueue:
    """Claims, heartbeats, fenced results, retries of jobs whose worker died."""

    def __init__(self, db: Database, settings: TrainingSettings) -> None:
        self.db = db
        self.settings = settings

    # claiming ----------------------------------------------------------------------------

    def claim(self, worker_id: str, kinds: Sequence[str]) -> Claim | None:
        """Take the oldest queued job this worker can run, or None."""
        # An idle worker asks often: a plain read first, not the claim's write transaction.
        with self.db.engine.connect() as conn:
            if conn.execute(_ANY_QUEUED, {"kinds": list(kinds)}).first() is None:
                return None
        if self.db.dialect == "postgresql":
            return self._claim_postgresql(worker_id, kinds)
        return self._claim_sqlite(worker_id, kinds)

    def _candidates(self, kinds: Sequence[str]) -> tuple[Any, list[Any]]:
        """The alias to select from and the conditions of a claimable job."""
        cand, other = aliased(Job), aliased(Job)
        running = (
            select(func.count())
            .select_from(other)
            .where(
                other.owner_id == cand.owner_id,
                other.status == RUNNING,
                other.recipe != SEARCH_RECIPE,
            )
            .correlate(cand)
            .scalar_subquery()
        )
        conditions = [
            cand.status == QUEUED,
            cand.executor.in_(list(kinds)),
            running < self.settings.max_concurrent_per_user,
        ]
        return cand, conditions

    def _take(self, s: Session, job_id: Any, worker_id: str) -> Claim | None:
        now = utcnow()
        row = s.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == QUEUED)
            .values(
                status=RUNNING,
                worker_id=worker_id,
                attempts=Job.attempts + 1,
                heartbeat_at=now,
                started_at=func.coalesce(Job.started_at, now),
                updated_at=now,
                reason="",
            )
            .returning(Job.id)
            .execution_options(synchronize_session=False)
        ).first()
        if row is None:
            return None
        job = s.get(Job, row[0], populate_existing=True)
        assert job is not None
        return Claim(
            job_id=job.id,
            attempt=job.attempts,
            owner_id=job.owner_id,
            recipe=job.recipe,
            params=job.params,
            dataset=job.dataset,
            dataset_version=job.dataset_version,
            model=job.model,
            executor=job.executor,
            resources=job.resources,
            time_limit_s=job.time_limit_s,
            log_bytes=job.log_bytes,
            description=job.description,
            max_attempts=job.max_attempts,
        )

    def _claim_sqlite(self, worker_id: str, kinds: Sequence[str]) -> Claim | None:
        cand, conditions = self._candidates(kinds)
        oldest = (
            select(cand.id)
            .where(*conditions)
            .order_by(cand.created_at, cand.id)
            .limit(1)
            .scalar_subquery()
        )
        with self.db.session() as s:
            return self._take(s, oldest, worker_id)

    def _claim_postgresql(self, worker_id: str, kinds: Sequence[str]) -> Claim | None:
        cand, conditions = self._candidates(kinds)
        skipped: set[str] = set()
        with self.db.session() as s:
            for _ in range(OWNER_RETRIES):
                where = [*conditions, cand.owner_id.not_in(skipped)] if skipped else conditions
                row = s.execute(
                    select(cand.id, cand.owner_id)
                    .where(*where)
                    .order_by(cand.created_at, cand.id)
                    .limit(1)
                    .with_for_update(skip_locked=True, of=cand)
                ).first()
                if row is None:
                    return None
                job_id, owner_id = row
                # Two workers may each see the owner under the limit; the owner's lock
                # makes the second one count again after the first one's claim commits.
                s.execute(text("SELECT pg_advisory_xact_lock(hashtext(:o))"), {"o": owner_id})
                running = s.scalar(
                    select(func.count()).where(
                        Job.owner_id == owner_id,
                        Job.status == RUNNING,
                        Job.recipe != SEARCH_RECIPE,
                    )
                )
                if (running or 0) >= self.settings.max_concurrent_per_user:
                    skipped.add(owner_id)
                    continue
                return self._take(s, job_id, worker_id)
        return None

    # running -----------------------------------------------------------------------------

    def heartbeat(self, worker_id: str, attempts: dict[str, int]) -> dict[str, Beat]:
        """Mark this worker's jobs alive; say which are still its own and which to cancel."""
        if not attempts:
            return {}
        now = utcnow()
        ids = list(attempts)
        with self.db.session() as s:
            s.execute(
                update(Job)
                .where(Job.id.in_(ids), Job.worker_id == worker_id, Job.status == RUNNING)
                .values(heartbeat_at=now)
                .execution_options(synchronize_session=False)
            )
            rows = s.execute(
                select(Job.id, Job.worker_id, Job.attempts, Job.status, Job.cancel_requested).where(
                    Job.id.in_(ids)
                )
            ).all()
        beats = {job_id: Beat(False, False) for job_id in ids}
        for job_id, owner, attempt, status, cancel in rows:
            ours = owner == worker_id and attempt == attempts[job_id] and status == RUNNING
            beats[job_id] = Beat(ours, bool(cancel))
        return beats

    def append_log(self, job_id: str, attempt: int, chunk: str) -> None:
        """Store a chunk of a job's output."""
        with self.db.session() as s:
            s.add(JobLog(job_id=job_id, attempt=attempt, text=chunk))
            s.execute(
                update(Job)
                .where(Job.id == job_id)
                .values(log_bytes=Job.log_bytes + len(chunk.encode()))
                .execution_options(synchronize_session=False)
            )

    def add_metrics(
        self,
        job_id: str,
        attempt: int,
        points: list[tuple[int, str, float]],
        progress: float | None,
    ) -> None:
        """Store metric values and the latest progress of a job."""
        with self.db.session() as s:
            if points:
                s.execute(
                    insert(JobMetric),
                    [
                        {
                            "job_id": job_id,
                            "attempt": attempt,
                            "step": step,
                            "name": name,
                            "value": value,
                            "created_at": utcnow(),
                        }
                        for step, name, value in points
                    ],
                )
            if progress is not None:
                s.execute(
                    update(Job)
                    .where(Job.id == job_id)
                    .values(progress=progress)
                    .execution_options(synchronize_session=False)
                )

    def finish(
        self,
        job_id: str,
        attempt: int,
        worker_id: str,
        status: JobStatus,
        reason: str = "",
        **fields: Any,
    ) -> bool:
        """Record the end of an attempt; False when the job is no longer this worker's."""
        with self.db.session() as s:
            result = s.execute(
                update(Job)
                .where(
                    Job.id == job_id,
                    Job.worker_id == worker_id,
                    Job.attempts == attempt,
                    Job.status == RUNNING,
                )
                .values(status=status.value, reason=reason[:4000], finished_at=utcnow(), **fields)
                .execution_options(synchronize_session=False)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def retry(self, job_id: str, attempt: int, worker_id: str, reason: str) -> bool:
        """Queue a job again after an attempt that failed for a passing reason."""
        return self._requeue(job_id, attempt, worker_id, reason, Job.attempts)

    def release(self, job_id: str, attempt: int, worker_id: str) -> bool:
        """Give a job back to the queue (the worker is shutting down): not a failed attempt."""
        reason = "its worker stopped; queued again"
        return self._requeue(job_id, attempt, worker_id, reason, Job.attempts - 1)

    def _requeue(
        self, job_id: str, attempt: int, worker_id: str, reason: str, attempts: Any
    ) -> bool:
        with self.db.session() as s:
            result = s.execute(
                update(Job)
                .where(
                    Job.id == job_id,
                    Job.worker_id == worker_id,
                    Job.attempts == attempt,
                    Job.status == RUNNING,
                )
                .values(status=QUEUED, worker_id=None, attempts=attempts, reason=reason[:4000])
                .execution_options(synchronize_session=False)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    # recovery ----------------------------------------------------------------------------

    def requeue_stale(self) -> list[str]:
        """Retry or fail the running jobs whose worker stopped heartbeating; their ids."""
        timeout = self.settings.heartbeat_timeout_s
        cutoff = utcnow() - timedelta(seconds=timeout)
        stale = (Job.status == RUNNING, Job.heartbeat_at < cutoff)
        lost = f"its worker was lost (no heartbeat for {timeout:g} s)"
        with self.db.session() as s:
            ids = list(s.scalars(select(Job.id).where(*stale)))
            if not ids:
                return []
            now = utcnow()
            common = {"worker_id": None, "updated_at": now}
            s.execute(
                update(Job)
                .where(*stale, Job.cancel_requested.is_(True))
                .values(status="cancelled", reason=f"cancelled; {lost}", finished_at=now, **common)
                .execution_options(synchronize_session=False)
            )
            s.execute(
                update(Job)
                .where(*stale, Job.attempts >= Job.max_attempts, Job.recipe != SEARCH_RECIPE)
                .values(
                    status="failed",
                    reason=f"{lost} on each of its attempts; giving up",
                    finished_at=now,
                    **common,
                )
                .execution_options(synchronize_session=False)
            )
            s.execute(
                update(Job)
                .where(*stale)
                .values(status=QUEUED, reason=f"{lost}; queued again", **common)
                .execution_options(synchronize_session=False)
            )
        log.warning("jobs whose worker was lost: %s", ", ".join(ids))
        return ids

    # searches ----------------------------------------------------------------------------

    def children(self, parent_id: str) -> list[Child]:
        """The child jobs of a search."""
        with self.db.session() as s:
            rows = s.execute(
                select(Job.id, Job.status, Job.reason, Job.summary, Job.model_version).where(
                    Job.parent_id == parent_id
                )
            ).all()
        return [Child(*row) for row in rows]

    def add_child(self, parent_id: str, attempt: int, worker_id: str, child: Job) -> bool:
        """Queue a search's trial job, unless the search is no longer this worker's or was
        cancelled; False then. The search's row is updated first: on PostgreSQL that locks
        it, so a cancel that comes at the same time sees the new child and cancels it."""
        with self.db.session() as s:
            result = s.execute(
                update(Job)
                .where(
                    Job.id == parent_id,
                    Job.worker_id == worker_id,
                    Job.attempts == attempt,
                    Job.status == RUNNING,
                    Job.cancel_requested.is_(False),
                )
                .values(updated_at=utcnow())
                .execution_options(synchronize_session=False)
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                return False
            s.add(child)
        return True

    def cancel_children(self, parent_id: str) -> None:
        """Cancel a search's trial jobs: queued ones at once, running ones by their worker."""
        with self.db.session() as s:
            cancel_children(s, parent_id)


def cancel_children(s: Session, parent_id: str) -> None:
    """Cancel the child jobs of a job (the trials of a search), in a caller's transaction."""
    s.execute(
        update(Job)
        .where(Job.parent_id == parent_id, Job.status == QUEUED)
        .values(
            status=CANCELLED,
            reason="cancelled with its search",
            cancel_requested=True,
            finished_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    s.execute(
        update(Job)
        .where(Job.parent_id == parent_id, Job.status.not_in([t.value for t in TERMINAL]))
        .values(cancel_requested=True)
        .execution_options(synchronize_session=False)
    )
