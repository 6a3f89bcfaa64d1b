"""`aiplayground train ...` and the SDK's training calls, against the app in-process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

from aiplayground import errors
from aiplayground.cli import train as train_cli
from aiplayground.sdk import Client
from aiplayground.sdk.training import TrainingMixin
from aiplayground.training.worker import Worker
from tests.inprocess import InProcessTransport


class TrainingClient(Client, TrainingMixin):
    """The SDK client with the training calls (until `Client` mixes them in itself)."""


@pytest.fixture
def sdk(app: FastAPI, alice_token: str) -> Iterator[TrainingClient]:
    transport = InProcessTransport(app)
    with TrainingClient("http://testserver", alice_token, transport=transport) as client:
        yield client
    transport.close()


def test_sdk_submit_follow_and_cancel(sdk: TrainingClient, worker: Worker) -> None:
    assert "tabular" in {r["name"] for r in sdk.list_recipes()}
    job = sdk.submit_job("steps", model="counted", params={"steps": 3})
    log = "".join(sdk.follow_job_logs(job["id"]))
    assert "[worker] succeeded" in log
    done = sdk.wait_for_job(job["id"], timeout=30, poll=0.05)
    assert done["status"] == "succeeded"
    assert done["model_version"] == 1
    assert [s for s, _ in sdk.job_metrics(job["id"])["series"]["loss"]] == [1, 2, 3]
    assert sdk.list_jobs(status="succeeded")["total"] == 1
    assert "attempt 1" in sdk.job_logs(job["id"])
    with pytest.raises(errors.ValidationFailed) as info:
        sdk.submit_job("steps", model="counted", params={"steps": -1})
    assert info.value.details["field"] == "params.steps"
    with pytest.raises(errors.NotFound):
        sdk.get_job("0" * 32)
    long = sdk.submit_job("steps", model="counted", params={"steps": 10_000})
    sdk.cancel_job(long["id"])
    assert sdk.wait_for_job(long["id"], timeout=30, poll=0.05)["status"] == "cancelled"


def test_cli_train_commands(
    sdk: TrainingClient, worker: Worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(train_cli, "connect", lambda url, token: sdk)
    monkeypatch.setattr(TrainingClient, "__exit__", lambda *a: None)  # the fixture closes it
    runner = CliRunner()
    submitted = runner.invoke(
        train_cli.train_app,
        ["submit", "steps", "--model", "counted", "-p", "steps=2", "-p", "step_s=0.01", "--follow"],
    )
    assert submitted.exit_code == 0, submitted.output
    job_id = submitted.stdout.splitlines()[0]
    assert f"job {job_id} succeeded" in submitted.stdout
    listed = runner.invoke(train_cli.train_app, ["list"])
    assert job_id in listed.stdout
    assert "succeeded" in listed.stdout
    status = runner.invoke(train_cli.train_app, ["status", job_id])
    assert '"model_version": 1' in status.stdout
    assert "attempt 1" in runner.invoke(train_cli.train_app, ["logs", job_id]).stdout
    bad = runner.invoke(train_cli.train_app, ["submit", "steps", "--model", "x", "-p", "steps=0"])
    assert bad.exit_code == 1
    assert "params.steps" in bad.stderr
    recipes = runner.invoke(train_cli.train_app, ["recipes"])
    assert "tabular:" in recipes.stdout
    assert "target" in recipes.stdout
