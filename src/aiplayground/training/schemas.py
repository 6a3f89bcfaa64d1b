"""Training's vocabulary: what callers send and get back (plain data, no ORM objects)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from aiplayground.catalog.schemas import Name


class JobStatus(StrEnum):
    """Where a job is in its life."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})

# The recipe name of a hyper-parameter search: a job that runs no process of its own but
# queues its trials as child jobs (training/hpo.py).
SEARCH_RECIPE = "hpo"


class ExecutorKind(StrEnum):
    """How a job's processes are started."""

    LOCAL = "local"
    TORCHRUN = "torchrun"
    KUBERNETES = "kubernetes"


class Resources(BaseModel):
    """What a job asks for."""

    model_config = ConfigDict(extra="forbid")

    processes: int = Field(1, ge=1, le=64, description="Processes (DDP ranks) of the job.")
    cpus: int | None = Field(
        None, ge=1, le=256, description="CPU threads per process (empty: the worker decides)."
    )
    gpus: int = Field(0, ge=0, le=16, description="GPUs per process (0: CPU only).")
    memory_mb: int | None = Field(None, ge=64, description="Memory per process, MiB.")
    time_limit_s: float | None = Field(
        None, gt=0, description="Wall-clock limit of one attempt, seconds (empty: the default)."
    )


class JobSubmit(BaseModel):
    """A job to queue: a recipe with its parameters, its data and the model it produces."""

    model_config = ConfigDict(extra="forbid")

    recipe: str = Field(min_length=1, max_length=64)
    params: dict[str, Any] = Field(default_factory=dict)
    dataset: Name | None = Field(None, description="Catalog dataset to train on.")
    dataset_version: int | None = Field(None, ge=1, description="Empty: the latest version.")
    model: Name = Field(description="Catalog model that receives the result as a new version.")
    resources: Resources = Field(default_factory=Resources)
    executor: ExecutorKind | None = Field(
        None, description="Empty: torchrun for several processes, else local."
    )
    description: str = Field("", max_length=20_000)


class JobInfo(BaseModel):
    """A job as shown to its owner."""

    id: str
    owner: str
    parent_id: str | None
    recipe: str
    params: dict[str, Any]
    dataset: str | None
    dataset_version: int | None
    model: str
    model_version: int | None
    executor: ExecutorKind
    resources: Resources
    time_limit_s: float
    description: str
    status: JobStatus
    reason: str
    cancel_requested: bool
    attempts: int
    max_attempts: int
    progress: float | None
    metrics: dict[str, float]
    best_params: dict[str, Any] | None = Field(
        None, description="A finished search: the parameters of its best trial."
    )
    artifacts: list[str]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None


class MetricPoint(BaseModel):
    """One value of one metric at one step."""

    step: int
    name: str
    value: float
    attempt: int
    time: datetime


class JobMetrics(BaseModel):
    """Every metric a job reported, in order, and the same grouped by name."""

    job: str
    items: list[MetricPoint]
    series: dict[str, list[tuple[int, float]]]


class RecipeInfo(BaseModel):
    """A recipe as offered to users: what it does and the JSON schema of its parameters."""

    name: str
    title: str
    description: str
    dataset_formats: list[str]
    distributed: bool
    params_schema: dict[str, Any]


class TrialInfo(BaseModel):
    """One trial of a search: the parameters drawn, the metric it reached, its child job."""

    number: int
    state: str = Field(description="Optuna's trial state: running, complete, fail, ...")
    params: dict[str, Any]
    value: float | None = Field(description="The metric, once the trial completed.")
    best_value: float | None = Field(description="The best value up to this trial.")
    job_id: str | None
    job_status: JobStatus | None
    model_version: int | None


class JobTrials(BaseModel):
    """The trials of a search job, in order, with the best one."""

    job: str
    recipe: str
    metric: str
    direction: str
    n_trials: int
    best: TrialInfo | None
    items: list[TrialInfo]
    total: int
