"""The job folder as the worker reads it: logs, metrics, results, confinement, environment."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from aiplayground.training.context import JobContext, JobSpec, confined
from aiplayground.training.executors.base import LaunchSpec
from aiplayground.training.executors.local import LocalExecutor, job_environment
from aiplayground.training.recipes.base import RecipeResult
from aiplayground.training.workspace import LogTail, MetricsTail, outcome, output_files


def test_log_tail_reads_new_text_and_keeps_split_characters(tmp_path: Path) -> None:
    log = tmp_path / "job.log"
    tail = LogTail(log)
    assert tail.read() == ""
    data = "température ✓\n".encode()
    cut = data.index("é".encode()) + 1  # inside the two bytes of "é"
    log.write_bytes(data[:cut])
    first = tail.read()
    assert first == "temp"
    log.write_bytes(data)
    assert first + tail.read() == "température ✓\n"


def test_metrics_tail_takes_whole_lines_and_skips_junk(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    tail = MetricsTail(path)
    lines = [
        json.dumps({"type": "metric", "step": 1, "values": {"loss": 0.5, "acc": 0.8}}),
        "not json",
        json.dumps({"type": "metric", "step": "x", "values": {}}),
        json.dumps({"type": "progress", "value": 7}),
    ]
    last = json.dumps({"type": "metric", "step": 2, "values": {"loss": 0.25}})
    path.write_text("\n".join(lines) + "\n" + last[:10])  # the last line is half-written
    points, progress = tail.read()
    assert points == [(1, "loss", 0.5), (1, "acc", 0.8)]
    assert progress == 1.0
    with path.open("a") as f:
        f.write(last[10:] + "\n")
    assert tail.read() == ([(2, "loss", 0.25)], None)


def test_confined_refuses_escapes(tmp_path: Path) -> None:
    assert confined(tmp_path, "a/b") == (tmp_path / "a" / "b").resolve()
    for bad in ("../x", "/etc/passwd", "a/../../x"):
        with pytest.raises(ValueError, match="leaves the job folder"):
            confined(tmp_path, bad)


def test_result_files_must_be_real_files_inside_output(tmp_path: Path) -> None:
    (tmp_path / "output").mkdir()
    (tmp_path / "output" / "model.onnx").write_bytes(b"x")
    (tmp_path / "secret").write_text("s")
    (tmp_path / "output" / "link.onnx").symlink_to(tmp_path / "secret")
    ok = RecipeResult(format="onnx", objective="other", files=["model.onnx"])
    assert [f.name for f in output_files(tmp_path, ok)] == ["model.onnx"]
    for name in ("link.onnx", "../secret", "missing.onnx"):
        bad = RecipeResult(format="onnx", objective="other", files=[name])
        with pytest.raises(ValueError, match=r"leaves the job folder|not a regular file"):
            output_files(tmp_path, bad)


def test_outcome_reads_reports(tmp_path: Path) -> None:
    assert outcome(tmp_path).reason == "the job ended without a result"
    (tmp_path / "error.json").write_text(json.dumps({"message": "no column", "retry": False}))
    ended = outcome(tmp_path)
    assert (ended.reason, ended.reported, ended.retry) == ("no column", True, False)
    (tmp_path / "error.json").write_text("[1]")
    assert "unreadable" in outcome(tmp_path).reason


def test_job_environment_carries_no_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIP_DATABASE_URL", "postgresql://u:pw@db/x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "k")
    monkeypatch.setenv("AIP_TOKEN", "aip_x")
    env = job_environment(LaunchSpec(job_id="j", workdir=tmp_path, threads=3))
    assert not {k for k in env if k.startswith(("AIP_DATABASE", "AIP_TOKEN", "AWS_"))}
    assert env["HOME"] == str(tmp_path)
    assert env["OMP_NUM_THREADS"] == "3"
    assert env["AIP_JOB_PARENT_PID"] == str(os.getpid())


def test_the_command_is_an_argument_vector(tmp_path: Path) -> None:
    command = LocalExecutor().command(LaunchSpec(job_id="j", workdir=tmp_path / "a; rm -rf ~"))
    assert command[-1] == str(tmp_path / "a; rm -rf ~")  # one argument, never a shell line


def test_context_reports_only_from_the_main_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = JobSpec(job_id="j", recipe="r", recipe_module="m", params={})
    JobContext(tmp_path, spec).metric(1, loss=0.5, bad=float("nan"))
    monkeypatch.setenv("RANK", "1")
    JobContext(tmp_path, spec).metric(2, loss=0.25)
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0])["values"] == {"loss": 0.5}
