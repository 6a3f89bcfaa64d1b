"""The Kubernetes executor: a valid Kubeflow Trainer TrainJob, and an honest refusal."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiplayground.errors import Unavailable
from aiplayground.training.executors import LaunchSpec, executor_for
from aiplayground.training.executors.kubernetes import render_trainjob

CRDS = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "k8s"


def test_trainjob_matches_the_crd_schema(tmp_path: Path) -> None:
    yaml = pytest.importorskip("yaml")
    jsonschema = pytest.importorskip("jsonschema")
    crd_file = CRDS / "trainer.kubeflow.org_trainjobs.yaml"
    if not crd_file.exists():
        pytest.skip("the Kubeflow Trainer CRDs are not in this checkout")
    crd = yaml.safe_load(crd_file.read_text())
    version = crd["spec"]["versions"][0]
    spec = LaunchSpec(job_id="0123abcd", workdir=tmp_path, processes=4, threads=2, gpus=1)
    manifest = render_trainjob(spec, time_limit_s=3600)
    assert manifest["apiVersion"] == f"{crd['spec']['group']}/{version['name']}"
    assert manifest["kind"] == crd["spec"]["names"]["kind"]
    jsonschema.validate(manifest, version["schema"]["openAPIV3Schema"])
    trainer = manifest["spec"]["trainer"]
    assert trainer["numProcPerNode"] == 4
    assert trainer["resourcesPerNode"]["limits"]["nvidia.com/gpu"] == 4
    assert manifest["spec"]["activeDeadlineSeconds"] == 3600


def test_without_a_cluster_the_executor_refuses(tmp_path: Path) -> None:
    executor = executor_for("kubernetes")
    assert "no Kubernetes cluster" in (executor.unavailable() or "")
    with pytest.raises(Unavailable):
        executor.launch(LaunchSpec(job_id="x", workdir=tmp_path))
