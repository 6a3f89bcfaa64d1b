"""Hyper-parameter search over any recipe: Optuna, with the platform database as its storage.

A search is a job with recipe "hpo" whose parameters name an inner recipe, its fixed
parameters, a search space and the metric to optimize. It runs no process of its own: the
worker that claims it drives an Optuna study (named after the job, stored in the platform
database, so any worker can take over) and queues each trial as a child job of the inner
recipe. Every trial registers a version of the search's target model like any job does;
the search ends with the best trial's version as its own result.

Job processes hold no platform credentials, so only workers ever talk to the study.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, NoReturn

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from aiplayground.catalog.schemas import ModelFormat
from aiplayground.errors import ValidationFailed, require_extra
from aiplayground.store.tables import new_id
from aiplayground.store.training_tables import Job
from aiplayground.training.recipes import RecipeRegistry
from aiplayground.training.recipes.base import Recipe, RecipeParams, SafeText
from aiplayground.training.schemas import (
    SEARCH_RECIPE,
    TERMINAL,
    JobStatus,
    JobTrials,
    TrialInfo,
)

if TYPE_CHECKING:
    from optuna import Study
    from optuna.distributions import BaseDistribution
    from optuna.storages import RDBStorage
    from optuna.trial import FrozenTrial

    from aiplayground.store.db import Database
    from aiplayground.training.queue import Child, Claim, JobQueue

TITLE = "Hyper-parameter search (Optuna)"
DESCRIPTION = """
Searches the parameters of another recipe with Optuna: each trial is a child job of that
recipe with parameters drawn from the search space, and its metric steers the next draws.

Several trials run at once (parallelism), on any worker; failed trials do not stop the
search. Every trial adds a version to the target model; the search's result is the best
trial's version.
"""
JOB_ID_ATTR = "job_id"
REFUSED_ATTR = "refused"
MIN_GIVE_UP = 3
STORAGE_TRIES = 3
Scalar = str | int | float | bool


class Dimension(BaseModel):
    """One searched parameter: an int or float range (optionally log-scaled), or choices."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["int", "float", "categorical"]
    low: float | None = Field(None, description="Smallest value (int, float).")
    high: float | None = Field(None, description="Largest value (int, float).")
    log: bool = Field(False, description="Sample on a log scale (low > 0).")
    step: float | None = Field(None, gt=0, description="Spacing of the values (not with log).")
    choices: list[Scalar] | None = Field(
        None, min_length=1, max_length=100, description="Values to choose from (categorical)."
    )

    @model_validator(mode="after")
    def _consistent(self) -> Dimension:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("a categorical dimension needs choices")
            if self.low is not None or self.high is not None or self.log or self.step:
                raise ValueError("a categorical dimension takes choices, not low/high/log/step")
            return self
        if self.choices is not None:
            raise ValueError(f"an {self.type} dimension takes low and high, not choices")
        if self.low is None or self.high is None:
            raise ValueError(f"an {self.type} dimension needs low and high")
        if self.low > self.high:
            raise ValueError("low must not be above high")
        if self.log and self.low <= 0:
            raise ValueError("a log-scaled dimension needs low > 0")
        if self.log and self.step is not None:
            raise ValueError("step and log cannot be used together")
        if self.type == "int" and not all(
            v is None or float(v).is_integer() for v in (self.low, self.high, self.step)
        ):
            raise ValueError("an int dimension needs whole low, high and step")
        return self

    def corners(self) -> list[Scalar]:
        """The values that bound what the sampler may draw: both ends, or every choice."""
        if self.type == "categorical":
            return list(self.choices or [])
        assert self.low is not None
        assert self.high is not None
        if self.type == "int":
            return [int(self.low), int(self.high)]
        return [self.low, self.high]

    def distribution(self) -> BaseDistribution:
        """The Optuna distribution of this dimension."""
        from optuna.distributions import (
            CategoricalDistribution,
            FloatDistribution,
            IntDistribution,
        )

        if self.type == "categorical":
            return CategoricalDistribution(list(self.choices or []))
        assert self.low is not None
        assert self.high is not None
        if self.type == "int":
            step = int(self.step or 1)
            return IntDistribution(int(self.low), int(self.high), log=self.log, step=step)
        return FloatDistribution(self.low, self.high, log=self.log, step=self.step)


class SearchParams(RecipeParams):
    """Parameters of a search job (recipe "hpo")."""

    recipe: SafeText = Field(description="Recipe whose parameters are searched.")
    params: dict[str, Any] = Field(
        default_factory=dict, description="Fixed parameters of that recipe, the same each trial."
    )
    space: dict[SafeText, Dimension] = Field(
        min_length=1,
        max_length=50,
        description='Searched parameters: {"name": {"type": "int"|"float"|"categorical", '
        '"low", "high", "log", "step", "choices"}}.',
    )
    metric: SafeText = Field(description="Metric of the recipe's result to optimize (accuracy).")
    direction: Literal["maximize", "minimize"] = Field("maximize", description="Of the metric.")
    n_trials: int = Field(10, ge=1, le=1000, description="Trials in all.")
    parallelism: int = Field(2, ge=1, le=64, description="Trials queued or running at once.")
    sampler: Literal["tpe", "random"] = Field("tpe", description="How trials are drawn.")
    seed: int | None = Field(0, ge=0, description="Seed of the sampler (empty: random).")


@dataclass(frozen=True)
class Search:
    """A checked search: its parameters, the inner recipe and the format of every trial's model."""

    params: SearchParams
    inner: Recipe
    model_format: ModelFormat


def _refuse(field: str, message: str, problems: list[dict[str, str]] | None = None) -> NoReturn:
    raise ValidationFailed(
        f"{field}: {message}",
        details={"field": field, "problems": problems or [{"field": field, "message": message}]},
    )


def check_search(recipes: RecipeRegistry, raw: dict[str, Any]) -> Search:
    """Validate a search at submission: 422 naming the field for anything a trial would refuse."""
    try:
        params = SearchParams.model_validate(raw)
    except ValidationError as exc:
        problems = [
            {"field": ".".join(["params", *(str(p) for p in e["loc"])]), "message": e["msg"]}
            for e in exc.errors()
        ]
        _refuse(problems[0]["field"], problems[0]["message"], problems)
    if params.recipe == SEARCH_RECIPE:
        _refuse("params.recipe", "a search cannot search another search")
    try:
        inner = recipes.get(params.recipe)
    except ValidationFailed as exc:
        _refuse("params.recipe", exc.message)
    known = inner.params.model_fields
    for name in params.space:
        if name not in known:
            _refuse(
                f"params.space.{name}",
                f"recipe {inner.name!r} has no parameter {name!r}; it has: {', '.join(known)}",
            )
        if name in params.params:
            _refuse(f"params.space.{name}", "a parameter is either fixed or searched, not both")
    formats: dict[ModelFormat, str] = {}
    for name, trial in _corner_trials(params):
        field = f"params.space.{name}" if name else "params.params"
        try:
            validated = inner.validate({**params.params, **trial})
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            if not name and where in params.space:
                field = f"params.space.{where}"
            elif not name:
                field = f"params.params.{where}" if where else field
            shown = f" (with {name}={trial[name]!r})" if name else ""
            _refuse(field, f"{where}: {first['msg']}{shown}" if name else first["msg"])
        formats.setdefault(inner.model_format(validated), field)
    if len(formats) > 1:
        _refuse(
            list(formats.values())[-1],
            "the searched values give models of different formats ("
            + ", ".join(f.value for f in formats)
            + "); every trial adds a version to the same model, so fix this parameter",
        )
    return Search(params=params, inner=inner, model_format=next(iter(formats)))


def _corner_trials(params: SearchParams) -> list[tuple[str, dict[str, Any]]]:
    """Parameter sets that bound the space: every dimension at its first corner, then each
    dimension through its other corners (the name says which dimension was varied)."""
    base = {name: dim.corners()[0] for name, dim in params.space.items()}
    trials: list[tuple[str, dict[str, Any]]] = [("", base)]
    for name, dim in params.space.items():
        trials += [(name, {**base, name: value}) for value in dim.corners()[1:]]
    return trials


def shown(params: dict[str, Any]) -> str:
    """Drawn parameters as a reader wants them: `a=0.0123, b='x'`."""
    return ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v!r}" for k, v in params.items()
    )


# the study -------------------------------------------------------------------------------


def require_optuna() -> None:
    """Raise MissingDependency (saying what to install) when Optuna is not installed."""
    require_extra("optuna", "hpo")


def open_storage(db: Database) -> RDBStorage:
    """Optuna's storage on the platform database (its own tables beside the platform's).

    Optuna keeps its schema revision in an `alembic_version` table, which in this database
    is the platform's: its own check would read the platform's revision, so it is skipped
    (Optuna's tables are created by Optuna, checkfirst). No connection pool: studies are
    read now and then, and an idle pool would hold connections the platform's own pool
    does not know about.
    """
    optuna = require_extra("optuna", "hpo")
    url = db.engine.url.render_as_string(hide_password=False)
    kwargs: dict[str, Any] = {"poolclass": NullPool}
    if db.dialect == "sqlite":
        kwargs["connect_args"] = {"timeout": 30}
    for attempt in range(1, STORAGE_TRIES + 1):
        try:
            storage: RDBStorage = optuna.storages.RDBStorage(
                url, engine_kwargs=kwargs, skip_compatibility_check=True
            )
            return storage
        except SQLAlchemyError:
            # Two processes creating Optuna's tables (or its one version row) at once:
            # the loser finds them made on its next try.
            if attempt == STORAGE_TRIES:
                raise
            time.sleep(0.2 * attempt)
    raise AssertionError("unreachable")


def load_study(storage: RDBStorage, job_id: str) -> Study | None:
    """The study of a search job, or None before a worker created it."""
    import optuna

    try:
        return optuna.load_study(study_name=job_id, storage=storage)
    except KeyError:
        return None


def delete_study(storage: RDBStorage, job_id: str) -> None:
    """Remove the study of a search job (nothing when it never started)."""
    import optuna

    try:
        optuna.delete_study(study_name=job_id, storage=storage)
    except KeyError:
        return


def trials(job: Job, study: Study | None, children: dict[str, Child]) -> JobTrials:
    """The trials of a search as callers see them, with each trial's child job."""
    params = SearchParams.model_validate(job.params)
    items: list[TrialInfo] = []
    best: float | None = None
    better = max if params.direction == "maximize" else min
    for trial in study.get_trials(deepcopy=False) if study else []:
        job_id = trial.user_attrs.get(JOB_ID_ATTR)
        child = children.get(job_id) if isinstance(job_id, str) else None
        value = trial.value if trial.state.name == "COMPLETE" else None
        if value is not None:
            best = value if best is None else better(best, value)
        item = TrialInfo(
            number=trial.number,
            state=trial.state.name.lower(),
            params=trial.params,
            value=value,
            best_value=best,
            job_id=child.id if child else None,
            job_status=JobStatus(child.status) if child else None,
            model_version=child.model_version if child else None,
        )
        items.append(item)
    best_item = next((i for i in items if best is not None and i.value == best), None)
    return JobTrials(
        job=job.id,
        recipe=params.recipe,
        metric=params.metric,
        direction=params.direction,
        n_trials=params.n_trials,
        best=best_item,
        items=items,
        total=len(items),
    )


# driving a search ------------------------------------------------------------------------


class SearchDriver:
    """Drives one claimed search: tells finished trials to the study, queues the next ones.

    Called by the worker that holds the search's claim, on its heartbeat; it holds no slot
    and no process. A trial's child job id is stored on the trial before the job is
    queued, so a worker that dies between the two leaves a trial that the next driver
    finds without a job and tells as failed, never a job without a trial.
    """

    def __init__(
        self,
        claim: Claim,
        queue: JobQueue,
        worker_id: str,
        storage: RDBStorage,
        recipes: RecipeRegistry,
        note: Callable[[str], None],
    ) -> None:
        self.claim = claim
        self.queue = queue
        self.worker_id = worker_id
        self.storage = storage
        self.params = SearchParams.model_validate(claim.params)
        self.inner = recipes.get(self.params.recipe)
        self.note = note
        self.space = {name: dim.distribution() for name, dim in self.params.space.items()}
        self.study = self._open()
        self.give_up_after = max(MIN_GIVE_UP, self.params.parallelism)
        self.progress: float | None = None

    def _open(self) -> Study:
        import optuna

        # A search taken over after its worker stopped does not redraw the same sequence.
        seed = None if self.params.seed is None else self.params.seed + self.claim.attempt - 1
        sampler = (
            optuna.samplers.RandomSampler(seed=seed)
            if self.params.sampler == "random"
            else optuna.samplers.TPESampler(seed=seed)
        )
        return optuna.create_study(
            storage=self.storage,
            study_name=self.claim.job_id,
            direction=self.params.direction,
            sampler=sampler,
            load_if_exists=True,
        )

    # each turn ---------------------------------------------------------------------------

    def advance(self) -> bool:
        """Tell ended trials, queue new ones, end the search when all are done; True then."""
        children = {c.id: c for c in self.queue.children(self.claim.job_id)}
        for trial in self._trials("RUNNING"):
            job_id = trial.user_attrs.get(JOB_ID_ATTR)
            child = children.get(job_id) if isinstance(job_id, str) else None
            if child is None:
                self._fail(trial.number, "its job was never queued (its worker stopped)")
            elif JobStatus(child.status) in TERMINAL:
                self._tell(trial.number, child)
        every = self._counted(children)
        running = sum(t.state.name == "RUNNING" for t in every)
        complete = sum(t.state.name == "COMPLETE" for t in every)
        failed = len(every) - running - complete
        total = len(every)
        while running < self.params.parallelism and total < self.params.n_trials:
            if complete == 0 and failed >= self.give_up_after:
                break
            launched = self._launch()
            if launched is None:
                return False  # the search is no longer this worker's
            total += 1
            if launched:
                running += 1
            else:
                failed += 1  # the recipe refused the drawn parameters
        giving_up = complete == 0 and failed >= self.give_up_after
        progress = (total - running) / self.params.n_trials
        if progress != self.progress:
            self.progress = progress
            self.queue.add_metrics(self.claim.job_id, self.claim.attempt, [], progress)
        if running or (total < self.params.n_trials and not giving_up):
            return False
        children = {c.id: c for c in self.queue.children(self.claim.job_id)}
        return self._conclude(children, giving_up)

    def _trials(self, state: str) -> list[FrozenTrial]:
        return [t for t in self.study.get_trials(deepcopy=False) if t.state.name == state]

    def _counted(self, children: dict[str, Child]) -> list[FrozenTrial]:
        """The trials that count towards n_trials: those whose job was queued, and those
        whose drawn parameters the recipe refused. A trial left without a job when the
        search changed hands (its worker stopped) does not count: another one replaces it."""
        return [
            t
            for t in self.study.get_trials(deepcopy=False)
            if t.user_attrs.get(REFUSED_ATTR) or t.user_attrs.get(JOB_ID_ATTR) in children
        ]

    def _launch(self) -> bool | None:
        """Ask the study for a trial and queue its job: True when queued, False when the
        recipe refused the drawn parameters (a failed trial), None when the search is no
        longer this worker's."""
        from optuna.trial import TrialState

        child_id = new_id()
        trial = self.study.ask(self.space)
        trial.set_user_attr(JOB_ID_ATTR, child_id)
        try:
            params = self.inner.validate({**self.params.params, **trial.params})
        except ValidationError as exc:
            first = exc.errors()[0]
            trial.set_user_attr(REFUSED_ATTR, True)
            self._fail(trial.number, f"parameters refused: {first['loc']}: {first['msg']}")
            return False
        claim = self.claim
        job = Job(
            id=child_id,
            owner_id=claim.owner_id,
            parent_id=claim.job_id,
            recipe=self.inner.name,
            params=params.model_dump(mode="json"),
            dataset=claim.dataset,
            dataset_version=claim.dataset_version,
            model=claim.model,
            executor=claim.executor,
            resources=claim.resources,
            time_limit_s=claim.time_limit_s,
            description=f"Trial {trial.number} of search {claim.job_id}",
            max_attempts=claim.max_attempts,
        )
        if not self.queue.add_child(claim.job_id, claim.attempt, self.worker_id, job):
            self.study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
            return None
        self.note(f"trial {trial.number} queued as job {child_id}: {shown(trial.params)}")
        return True

    def _tell(self, number: int, child: Child) -> None:
        status = JobStatus(child.status)
        if status is not JobStatus.SUCCEEDED:
            self._fail(number, f"job {child.id} {status.value}: {child.reason or 'no reason'}")
            return
        value = child.summary.get(self.params.metric)
        if not isinstance(value, int | float) or not math.isfinite(value):
            reported = ", ".join(sorted(child.summary)) or "nothing"
            self._fail(number, f"job {child.id} did not report {self.params.metric!r} ({reported})")
            return
        self.study.tell(number, float(value), skip_if_finished=True)
        self.note(f"trial {number}: {self.params.metric}={value:.6g} (job {child.id})")

    def _fail(self, number: int, reason: str) -> None:
        from optuna.trial import TrialState

        self.study.tell(number, state=TrialState.FAIL, skip_if_finished=True)
        self.note(f"trial {number} failed: {reason}")

    def _conclude(self, children: dict[str, Child], gave_up: bool) -> bool:
        every = self._counted(children)
        complete = [t for t in every if t.state.name == "COMPLETE"]
        claim = self.claim
        if not complete:
            reason = (
                f"the first {len(every)} trials all failed; giving up (see the log)"
                if gave_up and len(every) < self.params.n_trials
                else f"all {len(every)} trials failed (see the log)"
            )
            self.note(reason)
            self.queue.finish(claim.job_id, claim.attempt, self.worker_id, JobStatus.FAILED, reason)
            return True
        best = self.study.best_trial
        assert best.value is not None
        child = children.get(str(best.user_attrs.get(JOB_ID_ATTR)))
        summary: dict[str, Any] = {
            self.params.metric: best.value,
            "best_trial": best.number,
            "trials_complete": len(complete),
            "trials_failed": len(every) - len(complete),
            "best_params": best.params,
        }
        self.note(
            f"best: trial {best.number}, {self.params.metric}={best.value:.6g}, "
            + shown(best.params)
        )
        self.queue.finish(
            claim.job_id,
            claim.attempt,
            self.worker_id,
            JobStatus.SUCCEEDED,
            "",
            summary=summary,
            model_version=child.model_version if child else None,
            progress=1.0,
        )
        return True

    def cancel(self) -> None:
        """The search was cancelled: stop its trials and record it as cancelled."""
        from optuna.trial import TrialState

        self.queue.cancel_children(self.claim.job_id)
        for trial in self._trials("RUNNING"):
            self.study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
        claim = self.claim
        self.note("cancelled; its trials were stopped")
        self.queue.finish(
            claim.job_id,
            claim.attempt,
            self.worker_id,
            JobStatus.CANCELLED,
            "cancelled; its trials were stopped",
        )
