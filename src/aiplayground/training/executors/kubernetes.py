"""Jobs on Kubernetes as Kubeflow Trainer `TrainJob`s (PyTorch runtime).

This module renders the manifest; submitting it needs a cluster, and none is configured
on this platform yet, so `launch` refuses with a clear error instead of pretending. The
job's folder (`job.json`, `data/`) reaches the pod through a volume mounted at
`/workspace/job`, prepared by the deployment that adds the cluster.
"""

from __future__ import annotations

import re
from typing import Any

from aiplayground.errors import Unavailable
from aiplayground.training.executors.base import LaunchSpec
from aiplayground.training.schemas import ExecutorKind

API_VERSION = "trainer.kubeflow.org/v1alpha1"
DEFAULT_RUNTIME = "torch-distributed"
DEFAULT_IMAGE = "ghcr.io/ai-playground/ai-playground:latest"
POD_JOB_FOLDER = "/workspace/job"
NO_CLUSTER = (
    "no Kubernetes cluster is configured on this platform: use the local or torchrun "
    "executor (the TrainJob manifest can be rendered with "
    "aiplayground.training.executors.kubernetes.render_trainjob)"
)


def trainjob_name(job_id: str) -> str:
    """A DNS-1035 name for the TrainJob of a job."""
    return "aip-" + re.sub(r"[^a-z0-9-]", "", job_id.lower())[:40]


def render_trainjob(
    spec: LaunchSpec,
    *,
    time_limit_s: float,
    image: str = DEFAULT_IMAGE,
    runtime: str = DEFAULT_RUNTIME,
    namespace: str | None = None,
) -> dict[str, Any]:
    """The `TrainJob` that runs one attempt of a job on one node with N ranks."""
    limits: dict[str, Any] = {"cpu": str(spec.threads * spec.processes)}
    if spec.memory_mb:
        limits["memory"] = f"{spec.memory_mb * spec.processes}Mi"
    if spec.gpus:
        limits["nvidia.com/gpu"] = spec.gpus * spec.processes
    metadata: dict[str, Any] = {
        "name": trainjob_name(spec.job_id),
        "labels": {
            "app.kubernetes.io/managed-by": "ai-playground",
            "aiplayground/job": spec.job_id,
        },
    }
    if namespace:
        metadata["namespace"] = namespace
    return {
        "apiVersion": API_VERSION,
        "kind": "TrainJob",
        "metadata": metadata,
        "spec": {
            "runtimeRef": {
                "apiGroup": "trainer.kubeflow.org",
                "kind": "ClusterTrainingRuntime",
                "name": runtime,
            },
            "activeDeadlineSeconds": max(1, int(time_limit_s)),
            "trainer": {
                "image": image,
                # The runtime's torchrun reads its options from the PET_* variables it sets.
                "command": ["torchrun"],
                "args": ["--module", "aiplayground.training.runner", POD_JOB_FOLDER],
                "numNodes": 1,
                "numProcPerNode": spec.processes,
                "resourcesPerNode": {"limits": limits, "requests": dict(limits)},
                "env": [
                    {"name": "OMP_NUM_THREADS", "value": str(spec.threads)},
                    {"name": "HF_HUB_OFFLINE", "value": "1"},
                ],
            },
        },
    }


class KubernetesExecutor:
    """Kubeflow Trainer on a cluster: not available until a cluster is configured."""

    kind = ExecutorKind.KUBERNETES

    def unavailable(self) -> str | None:
        """Always the missing cluster, for now."""
        return NO_CLUSTER

    def launch(self, spec: LaunchSpec) -> Any:
        """Refuse: there is no cluster to submit the TrainJob to."""
        raise Unavailable(NO_CLUSTER)
