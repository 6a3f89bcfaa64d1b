"""Distributed data-parallel jobs on this machine: torchrun with N ranks (gloo on CPU)."""

from __future__ import annotations

import importlib.util
import sys

from aiplayground.training.executors.base import LaunchSpec
from aiplayground.training.executors.local import LocalExecutor
from aiplayground.training.schemas import ExecutorKind


class TorchrunExecutor(LocalExecutor):
    """`torchrun --standalone` through the platform's launcher, in the job's process group."""

    kind = ExecutorKind.TORCHRUN

    def unavailable(self) -> str | None:
        """Torch must be installed in the worker's environment."""
        if importlib.util.find_spec("torch") is None:
            return "distributed jobs need PyTorch on the worker: pip install torch==2.13.0"
        return None

    def command(self, spec: LaunchSpec) -> list[str]:
        """The launcher, torchrun's options, then the runner as a module."""
        return [
            sys.executable,
            "-m",
            "aiplayground.training.launch",
            "--standalone",
            "--nnodes=1",
            f"--nproc-per-node={spec.processes}",
            # No in-place restarts: after a dead rank, gloo's reconnection can hang. The
            # worker retries the job instead, in a fresh group, from the last checkpoint.
            "--max-restarts=0",
            "--module",
            "aiplayground.training.runner",
            str(spec.workdir),
        ]
