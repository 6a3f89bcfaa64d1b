"""The `JobExecutor` interface: how a job's processes start, and how they are stopped."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from aiplayground.training.schemas import ExecutorKind


@dataclass(frozen=True)
class LaunchSpec:
    """What an executor needs to start one attempt of a job."""

    job_id: str
    workdir: Path
    processes: int = 1
    threads: int = 1
    gpus: int = 0
    memory_mb: int | None = None


class JobProcess(Protocol):
    """A started job: every process it made, as one unit."""

    def poll(self) -> int | None:
        """The exit status once the job's main process has ended, else None."""
        ...

    def signal(self, signum: int) -> None:
        """Send a signal to every process of the job."""
        ...

    def wait(self, timeout: float) -> int | None:
        """Wait up to `timeout` seconds for the end; the exit status or None."""
        ...


class JobExecutor(Protocol):
    """Starts jobs: on this machine (a subprocess, torchrun) or on a cluster."""

    kind: ExecutorKind

    def unavailable(self) -> str | None:
        """Why this executor cannot run jobs here, or None when it can."""
        ...

    def launch(self, spec: LaunchSpec) -> JobProcess:
        """Start one attempt of a job in its folder."""
        ...
