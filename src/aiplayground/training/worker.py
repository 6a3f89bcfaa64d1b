"""The worker: claims jobs, runs each in its own folder and process group, records the rest.

One loop, no threads: every turn it reads the running jobs' new output and metrics,
heartbeats, enforces cancels and time limits, finishes jobs whose process ended
(registering their model version), retries jobs of dead workers and claims new ones.

A search job (hyper-parameter search) takes no slot and starts no process: on each
heartbeat the worker that claimed it tells its ended trials to its Optuna study and queues
the next trials as child jobs, which any worker (this one included) may run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from aiplayground.catalog.schemas import Lineage, ModelCreate, ModelUpdate, VersionMetadata
from aiplayground.errors import Conflict, NotFound, PlaygroundError, Unavailable
from aiplayground.training import workspace
from aiplayground.training.context import (
    CHECKPOINT_DIR,
    LOG_FILE,
    METRICS_FILE,
    DatasetSpec,
    JobSpec,
)
from aiplayground.training.executors import JobProcess, LaunchSpec, executor_for
from aiplayground.training.hpo import SearchDriver, open_storage
from aiplayground.training.queue import Claim, JobQueue
from aiplayground.training.recipes import RecipeRegistry
from aiplayground.training.recipes.base import RecipeResult
from aiplayground.training.schemas import SEARCH_RECIPE, ExecutorKind, JobStatus, Resources
from aiplayground.training.service import job_principal

if TYPE_CHECKING:
    from optuna.storages import RDBStorage

    from aiplayground.app import Platform

log = logging.getLogger(__name__)

BUSY_TICK_S = 0.05
PUMP_INTERVAL_S = 0.25


@dataclass
class Running:
    """A job this worker started, and what it has read of it so far."""

    claim: Claim
    root: Path
    process: JobProcess
    deadline: float
    logs: workspace.LogTail
    metrics: workspace.MetricsTail
    mirror: workspace.CheckpointMirror
    log_bytes: int
    stop_reason: str | None = None
    stop_status: JobStatus = JobStatus.FAILED
    kill_at: float | None = None


class Worker:
    """Runs queued jobs of one platform; any number of workers may share a database."""

    def __init__(self, platform: Platform, *, slots: int | None = None) -> None:
        self.platform = platform
        self.settings = platform.settings.training
        self.queue = JobQueue(platform.db, self.settings)
        self.recipes = RecipeRegistry(self.settings.extra_recipes)
        self.id = f"{socket.gethostname()[:80]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.slots = slots or self.settings.slots
        self.kinds = [
            k.value
            for k in (ExecutorKind.LOCAL, ExecutorKind.TORCHRUN)
            if executor_for(k).unavailable() is None
        ]
        self.jobs_root = platform.settings.resolved_home / "jobs"
        self.running: dict[str, Running] = {}
        self.searches: dict[str, SearchDriver] = {}
        self._study_storage: RDBStorage | None = None
        self._next_beat = 0.0
        self._next_pump = 0.0
        self._next_claim = 0.0

    # the loop ----------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Work until `stop` is set, then stop the running jobs and give them back."""
        log.info("worker %s started (executors: %s)", self.id, ", ".join(self.kinds))
        try:
            while not stop.is_set():
                try:
                    claimed = self.step()
                except (Unavailable, SQLAlchemyError):
                    # The database restarts or is unreachable: keep the jobs running and
                    # try again; a long outage hands them to other workers afterwards.
                    log.exception("worker %s: the database failed; retrying", self.id)
                    stop.wait(self.settings.heartbeat_interval_s)
                    continue
                stop.wait(BUSY_TICK_S if self.running or claimed else self.settings.poll_interval_s)
        finally:
            self.shutdown()

    def step(self) -> bool:
        """One turn of the loop; True when a job was claimed."""
        now = time.monotonic()
        # Ended jobs are noticed within a tick; output and metrics go to the database at
        # the slower pump pace (and once more when a job ends).
        pump = now >= self._next_pump
        if pump:
            self._next_pump = now + PUMP_INTERVAL_S
        for job in list(self.running.values()):
            ended = job.process.poll() is not None
            if pump and not ended:
                self._pump(job)
            self._check_limits(job)
            if ended:
                self._finish(job)
                self._next_claim = 0.0  # a slot is free: look at the queue now
        if now >= self._next_beat:
            self._next_beat = now + self.settings.heartbeat_interval_s
            self._heartbeat()
            for search in list(self.searches.values()):
                self._advance(search)
            self.queue.requeue_stale()
        claimed = False
        if self.running and now < self._next_claim:
            return False
        while len(self.running) < self.slots:
            claim = self.queue.claim(self.id, self.kinds)
            if claim is None:
                # A busy worker ticks fast; it looks at the queue at the idle pace still.
                self._next_claim = now + self.settings.poll_interval_s
                break
            claimed = True
            if claim.recipe == SEARCH_RECIPE:
                self._start_search(claim)
            else:
                self._start(claim)
        return claimed

    def shutdown(self) -> None:
        """Stop every running job and put it back in the queue for another worker."""
        for search in list(self.searches.values()):
            claim = search.claim
            self.searches.pop(claim.job_id, None)
            try:
                self.queue.release(claim.job_id, claim.attempt, self.id)
            except (Unavailable, SQLAlchemyError):
                log.exception("search %s could not be given back", claim.job_id)
        for job in list(self.running.values()):
            job.mirror.sync()
            job.process.signal(signal.SIGTERM)
        deadline = time.monotonic() + self.settings.cancel_grace_s
        for job in list(self.running.values()):
            job.process.wait(max(0.0, deadline - time.monotonic()))
            job.process.signal(signal.SIGKILL)
            job.process.wait(5.0)
            self.running.pop(job.claim.job_id, None)
            try:
                self._pump(job)
                self.queue.release(job.claim.job_id, job.claim.attempt, self.id)
            except (Unavailable, SQLAlchemyError):
                # Left "running": once its heartbeat is stale, another worker retries it.
                log.exception("job %s could not be given back", job.claim.job_id)

    # starting ----------------------------------------------------------------------------

    def _start(self, claim: Claim) -> None:
        root = self.jobs_root / claim.job_id
        resources = Resources.model_validate(claim.resources)
        try:
            spec = self._prepare(claim, root, resources)
            launch = LaunchSpec(
                job_id=claim.job_id,
                workdir=root,
                processes=resources.processes,
                threads=spec.threads,
                gpus=resources.gpus,
                memory_mb=resources.memory_mb,
            )
            process = executor_for(claim.executor).launch(launch)
        except (PlaygroundError, OSError, ValueError) as exc:
            message = exc.message if isinstance(exc, PlaygroundError) else str(exc)
            self._note(claim, f"could not start: {message}")
            self.queue.finish(claim.job_id, claim.attempt, self.id, JobStatus.FAILED, message)
            return
        self.running[claim.job_id] = Running(
            claim=claim,
            root=root,
            process=process,
            deadline=time.monotonic() + claim.time_limit_s,
            logs=workspace.LogTail(root / LOG_FILE, offset=_size(root / LOG_FILE)),
            metrics=workspace.MetricsTail(root / METRICS_FILE, offset=_size(root / METRICS_FILE)),
            mirror=workspace.CheckpointMirror(self.platform.storage, claim.job_id, root),
            log_bytes=claim.log_bytes,
        )
        log.info("job %s attempt %d started", claim.job_id, claim.attempt)

    def _start_search(self, claim: Claim) -> None:
        """Take over a search: open (or create) its study and queue its first trials."""
        try:
            if self._study_storage is None:
                self._study_storage = open_storage(self.platform.db)
            search = SearchDriver(
                claim,
                self.queue,
                self.id,
                self._study_storage,
                self.recipes,
                note=lambda message: self._note(claim, message),
            )
        except (PlaygroundError, ValidationError, ValueError) as exc:
            message = exc.message if isinstance(exc, PlaygroundError) else str(exc)
            self._note(claim, f"could not start: {message}")
            self.queue.finish(claim.job_id, claim.attempt, self.id, JobStatus.FAILED, message)
            return
        params = search.params
        where = self.id.rsplit(":", 1)[0]
        self._note(
            claim,
            f"search attempt {claim.attempt} on {where}: {params.n_trials} trials of "
            f"{params.recipe}, {params.parallelism} at once, {params.direction} "
            f"{params.metric}",
        )
        self.searches[claim.job_id] = search
        self._advance(search)

    def _advance(self, search: SearchDriver) -> None:
        claim = search.claim
        try:
            ended = search.advance()
        except (PlaygroundError, ValueError, RuntimeError) as exc:
            # Optuna refuses something about the study (ValueError, RuntimeError): the
            # search cannot go on, and its trials already queued are stopped.
            message = exc.message if isinstance(exc, PlaygroundError) else str(exc)
            self._note(claim, f"the search failed: {message}")
            self.queue.cancel_children(claim.job_id)
            self.queue.finish(claim.job_id, claim.attempt, self.id, JobStatus.FAILED, message)
            ended = True
        if ended:
            self.searches.pop(claim.job_id, None)
            log.info("search %s ended", claim.job_id)

    def _prepare(self, claim: Claim, root: Path, resources: Resources) -> JobSpec:
        owner = job_principal(self.platform.db, claim.owner_id)
        if owner is None:
            raise ValueError("the job's owner no longer exists or is suspended")
        dataset = None
        files = []
        if claim.dataset and claim.dataset_version:
            info = self.platform.datasets.get(owner, claim.dataset)
            files = self.platform.datasets.stored_files(owner, claim.dataset, claim.dataset_version)
            dataset = DatasetSpec(
                name=claim.dataset,
                version=claim.dataset_version,
                format=info.format.value,
                files=[f.path for f in files],
            )
        threads = resources.cpus or max(
            1, (os.cpu_count() or 1) // self.slots // resources.processes
        )
        spec = JobSpec(
            job_id=claim.job_id,
            recipe=claim.recipe,
            recipe_module=self.recipes.module(claim.recipe),
            params=claim.params,
            dataset=dataset,
            attempt=claim.attempt,
            threads=threads,
            gpus=resources.gpus,
        )
        workspace.prepare(
            root,
            spec,
            self.platform.storage,
            files,
            alive=lambda: self._heartbeat(claim),
            remote=self.platform.datasets.remote,
            note=lambda message: self._note(claim, message),
        )
        resumed = any((root / CHECKPOINT_DIR).glob("*"))
        where = f"on {self.id.rsplit(':', 1)[0]}"
        note = f"attempt {claim.attempt} {where}" + (
            ", from its last checkpoint" if resumed else ""
        )
        self._note(claim, note)
        return spec

    # running -----------------------------------------------------------------------------

    def _pump(self, job: Running) -> None:
        """Move the job's new output and metrics into the database."""
        claim = job.claim
        while text := job.logs.read():
            if job.log_bytes > self.settings.max_log_bytes:
                continue
            job.log_bytes += len(text.encode())
            if job.log_bytes > self.settings.max_log_bytes:
                text = f"\n[log truncated at {self.settings.max_log_bytes} bytes]\n"
            self.queue.append_log(claim.job_id, claim.attempt, text)
        points, progress = job.metrics.read()
        if points or progress is not None:
            self.queue.add_metrics(claim.job_id, claim.attempt, points, progress)

    def _heartbeat(self, only: Claim | None = None) -> None:
        attempts = (
            {only.job_id: only.attempt}
            if only
            else {
                **{job_id: job.claim.attempt for job_id, job in self.running.items()},
                **{job_id: search.claim.attempt for job_id, search in self.searches.items()},
            }
        )
        for job_id, beat in self.queue.heartbeat(self.id, attempts).items():
            search = self.searches.get(job_id)
            if search is not None and not beat.still_ours:
                log.warning("search %s is no longer this worker's; leaving it", job_id)
                self.searches.pop(job_id, None)
            elif search is not None and beat.cancel_requested:
                self.searches.pop(job_id, None)
                search.cancel()
            job = self.running.get(job_id)
            if job is None:
                continue
            job.mirror.sync()
            if not beat.still_ours:
                # Presumed dead and handed on: this copy must stop, and record nothing.
                log.warning("job %s is no longer this worker's; stopping it", job_id)
                job.process.signal(signal.SIGKILL)
                self.running.pop(job_id, None)
            elif beat.cancel_requested and job.stop_reason is None:
                self._stop(job, "cancelled while running", JobStatus.CANCELLED)

    def _check_limits(self, job: Running) -> None:
        now = time.monotonic()
        if job.stop_reason is None and now > job.deadline:
            limit = job.claim.time_limit_s
            self._stop(job, f"stopped: time limit of {limit:g} s exceeded", JobStatus.FAILED)
        if job.kill_at is not None and now > job.kill_at:
            job.process.signal(signal.SIGKILL)
            job.kill_at = None

    def _stop(self, job: Running, reason: str, status: JobStatus) -> None:
        job.stop_reason, job.stop_status = reason, status
        job.kill_at = time.monotonic() + self.settings.cancel_grace_s
        self._note(job.claim, reason)
        job.process.signal(signal.SIGTERM)

    # finishing ---------------------------------------------------------------------------

    def _finish(self, job: Running) -> None:
        self.running.pop(job.claim.job_id, None)
        job.process.signal(signal.SIGKILL)  # stray processes the job left behind
        self._pump(job)
        claim, code = job.claim, job.process.poll()
        fields: dict[str, Any] = {}
        if job.stop_reason is not None:
            status, reason = job.stop_status, job.stop_reason
        else:
            ended = workspace.outcome(job.root)
            result = ended.result
            if code == 0 and result is not None:
                try:
                    version = self._register(claim, job.root, result)
                except (PlaygroundError, ValueError, OSError) as exc:
                    message = exc.message if isinstance(exc, PlaygroundError) else str(exc)
                    status, reason = (
                        JobStatus.FAILED,
                        f"the model could not be registered: {message}",
                    )
                else:
                    status, reason = JobStatus.SUCCEEDED, ""
                    fields = {
                        "model_version": version,
                        "summary": result.metrics,
                        "artifacts": result.files,
                        "progress": 1.0,
                    }
            else:
                status, reason = JobStatus.FAILED, self._failure(job.root, code, ended)
                # Killed, crashed without a report, or a distributed job whose peer died:
                # another attempt resumes from the last checkpoint. User errors are final.
                passing = ended.retry or (not ended.reported and code != 0)
                if passing and claim.attempt < claim.max_attempts:
                    self._note(claim, f"attempt {claim.attempt} failed ({reason}); retrying")
                    self.queue.retry(claim.job_id, claim.attempt, self.id, reason)
                    return
        self._note(claim, f"{status.value}" + (f": {reason}" if reason else ""))
        if self.queue.finish(claim.job_id, claim.attempt, self.id, status, reason, **fields):
            self.platform.storage.delete_prefix(workspace.checkpoint_prefix(claim.job_id))
            workspace.clean(job.root)
        log.info("job %s %s %s", claim.job_id, status.value, reason)

    def _failure(self, root: Path, code: int | None, ended: workspace.Outcome) -> str:
        if ended.reported:
            return ended.reason
        if code is not None and code < 0:
            name = signal.Signals(-code).name
            hint = " (out of memory?)" if -code == signal.SIGKILL else ""
            return f"the job was killed by {name}{hint}"
        tail = workspace.log_tail(root)
        return f"the job exited with status {code}" + (f": {tail}" if tail else "")

    def _register(self, claim: Claim, root: Path, result: RecipeResult) -> int:
        owner = job_principal(self.platform.db, claim.owner_id)
        if owner is None:
            raise ValueError("the job's owner no longer exists or is suspended")
        models = self.platform.models
        try:
            models.get(owner, claim.model)
        except NotFound:
            create = ModelCreate(
                name=claim.model,
                format=result.format,
                objective=result.objective,
                title=claim.model,
                description=result.description,
            )
            with contextlib.suppress(Conflict):  # another job created it first
                models.create(owner, create)
        lineage = Lineage(
            dataset=claim.dataset, dataset_version=claim.dataset_version, job_id=claim.job_id
        )
        meta = VersionMetadata(
            signature=result.signature,
            example=result.example,
            metrics=result.metrics,
            lineage=lineage,
            params={"recipe": claim.recipe, "recipe_params": claim.params, **result.details},
            description=claim.description or result.description,
        )
        files = workspace.output_files(root, result)
        # The catalog numbers again when another trial of a search took the same number.
        version = self.platform.models.add_version(owner, claim.model, files, meta).version
        if result.serving:
            # What the result needs to be served (a LoRA adapter's catalog base model).
            serving = {**models.get(owner, claim.model).serving, **result.serving}
            models.update(owner, claim.model, ModelUpdate(serving=serving))
        return version

    def _note(self, claim: Claim, message: str) -> None:
        """A line from the worker in the job's log."""
        self.queue.append_log(claim.job_id, claim.attempt, f"[worker] {message}\n")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
