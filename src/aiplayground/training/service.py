"""Jobs as their owners see them: submit (checked against the recipe), list, follow, cancel."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from aiplayground.auth.principal import Principal, Role
from aiplayground.catalog.datasets import DatasetCatalog
from aiplayground.catalog.schemas import ModelFormat, Page
from aiplayground.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    RateLimited,
    ValidationFailed,
)
from aiplayground.settings import TrainingSettings
from aiplayground.store.db import Database
from aiplayground.store.tables import Model, User, utcnow
from aiplayground.store.training_tables import Job, JobLog, JobMetric
from aiplayground.training import hpo
from aiplayground.training.executors import executor_for
from aiplayground.training.queue import Child, cancel_children
from aiplayground.training.recipes import RecipeRegistry
from aiplayground.training.recipes.base import Recipe
from aiplayground.training.schemas import (
    SEARCH_RECIPE,
    TERMINAL,
    ExecutorKind,
    JobInfo,
    JobMetrics,
    JobStatus,
    JobSubmit,
    JobTrials,
    MetricPoint,
    RecipeInfo,
    Resources,
)
from aiplayground.training.workspace import checkpoint_prefix

if TYPE_CHECKING:
    from optuna.storages import RDBStorage

    from aiplayground.storage.base import ArtifactStore

MAX_PAGE = 500
LOG_PAGE = 2000


def _problems(exc: ValidationError, prefix: str) -> list[dict[str, str]]:
    return [
        {"field": ".".join([prefix, *(str(p) for p in e["loc"])]), "message": e["msg"]}
        for e in exc.errors()
    ]


class TrainingService:
    """Training jobs, with owner checks on every call."""

    def __init__(
        self,
        db: Database,
        settings: TrainingSettings,
        datasets: DatasetCatalog,
        recipes: RecipeRegistry | None = None,
        *,
        storage: ArtifactStore | None = None,
        jobs_root: Path | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.datasets = datasets
        self.recipes = recipes or RecipeRegistry(settings.extra_recipes)
        self.storage = storage
        self.jobs_root = jobs_root
        self._study_storage: RDBStorage | None = None

    # recipes -----------------------------------------------------------------------------

    def list_recipes(self) -> list[RecipeInfo]:
        """Every recipe with its description and parameter schema, then the search."""
        recipes = self.recipes.all()
        items = [
            RecipeInfo(
                name=r.name,
                title=r.title,
                description=r.description.strip(),
                dataset_formats=list(r.dataset_formats),
                distributed=r.distributed,
                params_schema=r.schema(),
            )
            for r in recipes
        ]
        # A search takes what its inner recipe takes: any format some recipe reads.
        formats = sorted({f for r in recipes for f in r.dataset_formats})
        search = RecipeInfo(
            name=SEARCH_RECIPE,
            title=hpo.TITLE,
            description=hpo.DESCRIPTION.strip(),
            dataset_formats=formats,
            distributed=any(r.distributed for r in recipes),
            params_schema=hpo.SearchParams.model_json_schema(),
        )
        return [*items, search]

    # submission --------------------------------------------------------------------------

    def submit(
        self, caller: Principal, body: JobSubmit, *, parent_id: str | None = None
    ) -> JobInfo:
        """Check a job against its recipe, data and target model, then queue it."""
        caller.require_write()
        if body.recipe == SEARCH_RECIPE:
            # Checked against the inner recipe: its data, resources and model format.
            hpo.require_optuna()
            search = hpo.check_search(self.recipes, body.params)
            recipe, name, fmt = search.inner, SEARCH_RECIPE, search.model_format
            params: dict[str, Any] = search.params.model_dump(mode="json")
        else:
            recipe = self.recipes.get(body.recipe)
            try:
                validated = recipe.validate(body.params)
            except ValidationError as exc:
                problems = _problems(exc, "params")
                first = problems[0]
                raise ValidationFailed(
                    f"{first['field']}: {first['message']}",
                    details={"field": first["field"], "problems": problems},
                ) from exc
            name, fmt = recipe.name, recipe.model_format(validated)
            params = validated.model_dump(mode="json")
        executor, time_limit = self._check_resources(recipe, body.resources, body.executor)
        dataset_version = self._check_dataset(caller, recipe, body)
        with self.db.session() as s:
            self._check_model(s, caller, body.model, fmt)
            waiting = s.scalar(
                select(func.count()).where(
                    Job.owner_id == caller.user_id,
                    Job.status.in_([JobStatus.QUEUED.value, JobStatus.RUNNING.value]),
                )
            )
            if (waiting or 0) >= self.settings.max_queued_per_user:
                raise RateLimited(
                    f"you have {waiting} jobs queued or running; wait for some to finish",
                    retry_after=30,
                )
            job = Job(
                owner_id=caller.user_id,
                parent_id=parent_id,
                recipe=name,
                params=params,
                dataset=body.dataset,
                dataset_version=dataset_version,
                model=body.model,
                executor=executor.value,
                resources=body.resources.model_dump(mode="json"),
                time_limit_s=time_limit,
                description=body.description,
                max_attempts=self.settings.max_attempts,
            )
            s.add(job)
            s.flush()
            return self._info(s, job)

    def _check_resources(
        self, recipe: Recipe, resources: Resources, asked: ExecutorKind | None
    ) -> tuple[ExecutorKind, float]:
        if resources.processes > self.settings.max_processes:
            raise ValidationFailed(
                f"at most {self.settings.max_processes} processes per job",
                details={"field": "resources.processes"},
            )
        if resources.processes > 1 and not recipe.distributed:
            raise ValidationFailed(
                f"recipe {recipe.name!r} runs as one process",
                details={"field": "resources.processes"},
            )
        executor = asked or (
            ExecutorKind.TORCHRUN if resources.processes > 1 else ExecutorKind.LOCAL
        )
        if executor is ExecutorKind.LOCAL and resources.processes > 1:
            raise ValidationFailed(
                "the local executor runs one process; use torchrun for more",
                details={"field": "executor"},
            )
        if executor is ExecutorKind.TORCHRUN and not recipe.distributed:
            raise ValidationFailed(
                f"recipe {recipe.name!r} is not distributed", details={"field": "executor"}
            )
        reason = executor_for(executor).unavailable()
        if reason:
            raise ValidationFailed(reason, details={"field": "executor"})
        limit = resources.time_limit_s or self.settings.default_time_limit_s
        if limit > self.settings.max_time_limit_s:
            raise ValidationFailed(
                f"the time limit may be at most {self.settings.max_time_limit_s:g} s",
                details={"field": "resources.time_limit_s"},
            )
        return executor, limit

    def _check_dataset(self, caller: Principal, recipe: Recipe, body: JobSubmit) -> int | None:
        if not recipe.dataset_formats:
            return None
        if body.dataset is None:
            raise ValidationFailed(
                f"recipe {recipe.name!r} needs a dataset", details={"field": "dataset"}
            )
        info = self.datasets.get(caller, body.dataset)
        if info.format.value not in recipe.dataset_formats:
            raise ValidationFailed(
                f"recipe {recipe.name!r} takes {', '.join(recipe.dataset_formats)} datasets; "
                f"{body.dataset!r} is {info.format.value}",
                details={"field": "dataset"},
            )
        if body.dataset_version is None:
            if info.latest_version is None:
                raise ValidationFailed(
                    f"dataset {body.dataset!r} has no versions yet", details={"field": "dataset"}
                )
            return info.latest_version
        if body.dataset_version not in info.versions:
            raise NotFound(f"dataset {body.dataset!r} has no version {body.dataset_version}")
        return body.dataset_version

    def _check_model(self, s: Session, caller: Principal, name: str, fmt: ModelFormat) -> None:
        model = s.scalar(select(Model).where(Model.name == name))
        if model is None:
            return  # created with the job's first result
        if not caller.can_see(model.owner_id, model.visibility):
            raise Conflict(f"a model named {name!r} already exists")
        if not caller.can_change(model.owner_id):
            raise PermissionDenied(f"only the owner or an admin can add versions to {name!r}")
        if model.format != fmt.value:
            raise ValidationFailed(
                f"model {name!r} is {model.format}; this job produces {fmt.value}",
                details={"field": "model"},
            )

    # reading -----------------------------------------------------------------------------

    def list_jobs(
        self,
        caller: Principal,
        *,
        status: JobStatus | None = None,
        parent_id: str | None = None,
        everyone: bool = False,
        limit: int = 50,
        offset: int = 0,
    ) -> Page[JobInfo]:
        """The caller's jobs (an admin may ask for everyone's), newest first."""
        query = select(Job)
        if not (everyone and caller.role is Role.ADMIN):
            query = query.where(Job.owner_id == caller.user_id)
        if status:
            query = query.where(Job.status == status.value)
        if parent_id:
            query = query.where(Job.parent_id == parent_id)
        with self.db.session() as s:
            total = s.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = s.scalars(
                query.order_by(Job.created_at.desc(), Job.id)
                .limit(max(1, min(limit, MAX_PAGE)))
                .offset(max(0, offset))
            )
            return Page(items=[self._info(s, job) for job in rows], total=int(total))

    def get(self, caller: Principal, job_id: str) -> JobInfo:
        """One job; another user's job does not exist for the caller."""
        with self.db.session() as s:
            return self._info(s, self._load(s, caller, job_id))

    def logs(self, caller: Principal, job_id: str, *, after: int = 0) -> tuple[str, int, bool]:
        """The log after a cursor: (text, new cursor, whether the job has ended)."""
        with self.db.session() as s:
            job = self._load(s, caller, job_id)
            rows = s.execute(
                select(JobLog.id, JobLog.text)
                .where(JobLog.job_id == job.id, JobLog.id > after)
                .order_by(JobLog.id)
                .limit(LOG_PAGE)
            ).all()
            cursor = rows[-1][0] if rows else after
            ended = JobStatus(job.status) in TERMINAL and len(rows) < LOG_PAGE
            return "".join(text for _, text in rows), int(cursor), ended

    def follow_logs(
        self, caller: Principal, job_id: str, *, poll_s: float = 0.5, max_s: float = 24 * 3600
    ) -> Iterator[str]:
        """The whole log, then new output as it comes, until the job ends."""
        cursor, deadline = 0, time.monotonic() + max_s
        while True:
            text, cursor, ended = self.logs(caller, job_id, after=cursor)
            if text:
                yield text
            if ended or time.monotonic() > deadline:
                return
            if not text:
                time.sleep(poll_s)

    def metrics(self, caller: Principal, job_id: str) -> JobMetrics:
        """Every metric value the job reported, in order."""
        with self.db.session() as s:
            job = self._load(s, caller, job_id)
            rows = s.scalars(
                select(JobMetric).where(JobMetric.job_id == job.id).order_by(JobMetric.id)
            ).all()
        items = [
            MetricPoint(
                step=m.step, name=m.name, value=m.value, attempt=m.attempt, time=m.created_at
            )
            for m in rows
        ]
        series: dict[str, list[tuple[int, float]]] = {}
        for point in items:
            series.setdefault(point.name, []).append((point.step, point.value))
        return JobMetrics(job=job_id, items=items, series=series)

    # changing ----------------------------------------------------------------------------

    def cancel(self, caller: Principal, job_id: str) -> JobInfo:
        """Cancel a job: at once when queued, within seconds (its worker stops it) when running."""
        caller.require_write()
        with self.db.session() as s:
            job = self._load(s, caller, job_id)
            if not caller.can_change(job.owner_id):
                raise PermissionDenied("only the owner or an admin can cancel this job")
            now = utcnow()
            took = s.execute(
                update(Job)
                .where(Job.id == job.id, Job.status == JobStatus.QUEUED.value)
                .values(
                    status=JobStatus.CANCELLED.value,
                    reason="cancelled before it started",
                    cancel_requested=True,
                    finished_at=now,
                )
                .execution_options(synchronize_session=False)
            ).rowcount  # type: ignore[attr-defined]
            if not took:
                s.execute(
                    update(Job)
                    .where(Job.id == job.id, Job.status == JobStatus.RUNNING.value)
                    .values(cancel_requested=True)
                    .execution_options(synchronize_session=False)
                )
            # A search's trials: after its own row, so a trial its worker queues at this
            # moment is either seen here or refused to the worker.
            cancel_children(s, job.id)
            s.refresh(job)
            if job.status in (JobStatus.SUCCEEDED.value, JobStatus.FAILED.value):
                raise Conflict(f"job {job_id} has already {job.status}")
            return self._info(s, job)

    def delete(self, caller: Principal, job_id: str) -> None:
        """Remove an ended job with its logs, metrics, checkpoints and folder (and a search's
        trials and study); the model versions it registered stay in the catalog."""
        caller.require_write()
        with self.db.session() as s:
            job = self._load(s, caller, job_id)
            if not caller.can_change(job.owner_id):
                raise PermissionDenied("only the owner or an admin can delete this job")
            ended = [status.value for status in TERMINAL]
            if job.status not in ended:
                raise Conflict(f"job {job_id} is {job.status}; cancel it first")
            children = list(s.scalars(select(Job).where(Job.parent_id == job.id)))
            if any(child.status not in ended for child in children):
                raise Conflict(f"some trials of job {job_id} are still stopping; try again soon")
            ids = [job.id, *(child.id for child in children)]
            search = job.recipe == SEARCH_RECIPE
            studies = self._studies() if search else None  # before anything is deleted
            s.execute(delete(JobLog).where(JobLog.job_id.in_(ids)))
            s.execute(delete(JobMetric).where(JobMetric.job_id.in_(ids)))
            s.execute(delete(Job).where(Job.parent_id == job.id))
            s.execute(delete(Job).where(Job.id == job.id))
        if studies is not None:
            hpo.delete_study(studies, job_id)
        for gone in ids:
            if self.storage is not None:
                self.storage.delete_prefix(checkpoint_prefix(gone))
            if self.jobs_root is not None:
                shutil.rmtree(self.jobs_root / gone, ignore_errors=True)

    # searches ----------------------------------------------------------------------------

    def trials(self, caller: Principal, job_id: str) -> JobTrials:
        """The trials of a search job: parameters, metric, state and child job of each."""
        with self.db.session() as s:
            job = self._load(s, caller, job_id)
            if job.recipe != SEARCH_RECIPE:
                raise NotFound(f"job {job_id} is not a search; it has no trials")
            rows = s.execute(
                select(Job.id, Job.status, Job.reason, Job.summary, Job.model_version).where(
                    Job.parent_id == job.id
                )
            ).all()
        children = {row[0]: Child(*row) for row in rows}
        study = hpo.load_study(self._studies(), job.id)
        return hpo.trials(job, study, children)

    def _studies(self) -> RDBStorage:
        if self._study_storage is None:
            self._study_storage = hpo.open_storage(self.db)
        return self._study_storage

    # rendering ---------------------------------------------------------------------------

    def _load(self, s: Session, caller: Principal, job_id: str) -> Job:
        job = s.get(Job, job_id) if len(job_id) <= 32 else None
        if job is None or not (job.owner_id == caller.user_id or caller.role is Role.ADMIN):
            raise NotFound(f"no job {job_id!r}")
        return job

    def _info(self, s: Session, job: Job) -> JobInfo:
        owner = s.scalar(select(User.name).where(User.id == job.owner_id)) or "?"
        return JobInfo(
            id=job.id,
            owner=owner,
            parent_id=job.parent_id,
            recipe=job.recipe,
            params=job.params,
            dataset=job.dataset,
            dataset_version=job.dataset_version,
            model=job.model,
            model_version=job.model_version,
            executor=ExecutorKind(job.executor),
            resources=Resources.model_validate(job.resources),
            time_limit_s=job.time_limit_s,
            description=job.description,
            status=JobStatus(job.status),
            reason=job.reason,
            cancel_requested=job.cancel_requested,
            attempts=job.attempts,
            max_attempts=job.max_attempts,
            progress=job.progress,
            metrics={k: v for k, v in job.summary.items() if isinstance(v, int | float)},
            best_params=job.summary.get("best_params"),
            artifacts=job.artifacts,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            heartbeat_at=job.heartbeat_at,
        )


def job_principal(db: Database, owner_id: str) -> Principal | None:
    """The owner of a job acting through it (to read its dataset, register its model)."""
    with db.session() as s:
        user = s.get(User, owner_id)
        if user is None or not user.is_active:
            return None
        return Principal(user_id=user.id, name=user.name, role=Role(user.role), via="job")
