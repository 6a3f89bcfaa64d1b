"""Jobs as local subprocesses: one process group per job, in the job's folder, no shell."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys

from aiplayground.training.context import LOG_FILE
from aiplayground.training.executors.base import LaunchSpec
from aiplayground.training.runner import PARENT_ENV
from aiplayground.training.schemas import ExecutorKind

# The only variables a job inherits: none of them carries a platform credential (the
# database URL, storage keys and AIP_* settings stay with the worker).
INHERITED_ENV = (
    "PATH",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "PYTHONPATH",
    "LD_LIBRARY_PATH",
    "CUDA_VISIBLE_DEVICES",
    "SSL_CERT_FILE",
)
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_MAX_THREADS")


def job_environment(spec: LaunchSpec) -> dict[str, str]:
    """The environment of a job's processes: a short allow-list, its folder as home."""
    env = {k: os.environ[k] for k in INHERITED_ENV if k in os.environ}
    tmp = spec.workdir / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    env.update(
        HOME=str(spec.workdir),
        TMPDIR=str(tmp),
        PYTHONUNBUFFERED="1",
        PYTHONDONTWRITEBYTECODE="1",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        MPLCONFIGDIR=str(tmp),
        **{name: str(spec.threads) for name in THREAD_ENV},
    )
    env[PARENT_ENV] = str(os.getpid())
    if spec.gpus == 0:
        env["CUDA_VISIBLE_DEVICES"] = ""
    return env


class ProcessGroup:
    """A job started in its own session: signals reach every process it spawned."""

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self.popen = popen

    @property
    def pid(self) -> int:
        """The job's main process (also its process group id)."""
        return self.popen.pid

    def poll(self) -> int | None:
        """The exit status once the main process has ended, else None."""
        return self.popen.poll()

    def signal(self, signum: int) -> None:
        """Send a signal to the whole process group (gone already is fine)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signum)

    def wait(self, timeout: float) -> int | None:
        """Wait up to `timeout` seconds for the main process."""
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None


class LocalExecutor:
    """One Python process per job on this machine."""

    kind = ExecutorKind.LOCAL

    def unavailable(self) -> str | None:
        """Always available."""
        return None

    def command(self, spec: LaunchSpec) -> list[str]:
        """The argument vector (never a shell line): the runner and the job's folder."""
        return [sys.executable, "-m", "aiplayground.training.runner", str(spec.workdir)]

    def launch(self, spec: LaunchSpec) -> ProcessGroup:
        """Start the job with its output appended to its log."""
        with (spec.workdir / LOG_FILE).open("ab") as log:
            popen = subprocess.Popen(
                self.command(spec),
                cwd=spec.workdir,
                env=job_environment(spec),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        return ProcessGroup(popen)


def stop(process: ProcessGroup, grace_s: float) -> int | None:
    """SIGTERM the job's processes, then SIGKILL what is left after `grace_s`."""
    process.signal(signal.SIGTERM)
    status = process.wait(grace_s)
    process.signal(signal.SIGKILL)
    return status if status is not None else process.wait(5.0)
