"""Executors by kind: local subprocess, local torchrun, Kubernetes (manifest only)."""

from __future__ import annotations

from aiplayground.errors import InvalidInput
from aiplayground.training.executors.base import JobExecutor, JobProcess, LaunchSpec
from aiplayground.training.schemas import ExecutorKind

__all__ = ["JobExecutor", "JobProcess", "LaunchSpec", "executor_for"]


def executor_for(kind: ExecutorKind | str) -> JobExecutor:
    """The executor of a kind; an unknown kind lists the known ones."""
    from aiplayground.training.executors.kubernetes import KubernetesExecutor
    from aiplayground.training.executors.local import LocalExecutor
    from aiplayground.training.executors.torchrun import TorchrunExecutor

    executors: dict[str, JobExecutor] = {
        ExecutorKind.LOCAL: LocalExecutor(),
        ExecutorKind.TORCHRUN: TorchrunExecutor(),
        ExecutorKind.KUBERNETES: KubernetesExecutor(),
    }
    try:
        return executors[str(kind)]
    except KeyError:
        known = ", ".join(k.value for k in ExecutorKind)
        raise InvalidInput(f"unknown executor {kind!r}; known: {known}") from None
