"""Hyper-parameter search: an Optuna study in the platform database, each trial a child job.

The main search runs on SQLite and on PostgreSQL; the others use the quick `steps` recipe.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import optuna
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from aiplayground import errors
from aiplayground.app import Platform
from aiplayground.cli import train as train_cli
from aiplayground.settings import Settings
from aiplayground.store.training_tables import Job, JobLog
from aiplayground.training.hpo import open_storage
from tests.conftest import bearer
from tests.inprocess import InProcessTransport
from tests.integration.training.conftest import (
    WorkerThread,
    create_dataset,
    iris_csv,
    submit,
    training_settings,
    wait_for,
)
from tests.integration.training.test_sdk_cli import TrainingClient

SQLITE_ONLY = pytest.mark.parametrize("settings", ["sqlite"], indirect=True)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Fast worker settings on each database backend."""
    # A search's worker heartbeats it between starting trials: generous on a busy machine.
    training = {"heartbeat_timeout_s": 10.0}
    if request.param == "sqlite":
        return training_settings(tmp_path / "home", training=training)
    url: str = request.getfixturevalue("postgres_url")
    return training_settings(tmp_path / "home", database_url=url, training=training)


def _search(**changes: Any) -> dict[str, Any]:
    """A search over the tabular recipe on iris: 4 trials, 2 at once."""
    return {
        "recipe": "tabular",
        "params": {"target": "species", "validation_fraction": 0.3, "seed": 3},
        "space": {
            "estimator": {"type": "categorical", "choices": ["linear", "random_forest"]},
            "regularization": {"type": "float", "low": 0.001, "high": 10.0, "log": True},
            "n_estimators": {"type": "int", "low": 5, "high": 30},
        },
        "metric": "accuracy",
        "direction": "maximize",
        "n_trials": 4,
        "parallelism": 2,
        "seed": 11,
        **changes,
    }


def _steps_search(**changes: Any) -> dict[str, Any]:
    return {
        "recipe": "steps",
        "params": {"step_s": 0.01},
        "space": {"steps": {"type": "int", "low": 1, "high": 6}},
        "metric": "steps",
        "direction": "minimize",
        "n_trials": 3,
        "parallelism": 2,
        **changes,
    }


def _submit_steps_search(client: TestClient, token: str, **changes: Any) -> dict[str, Any]:
    """Submit a search over the `steps` recipe for the model `steps-hpo`."""
    return submit(client, token, recipe="hpo", model="steps-hpo", params=_steps_search(**changes))


def _children(platform: Platform, parent: str) -> list[Job]:
    with platform.db.session() as s:
        return list(s.scalars(select(Job).where(Job.parent_id == parent)))


def test_a_search_over_the_tabular_recipe_ends_with_its_best_trial(
    client: TestClient, alice_token: str, platform: Platform
) -> None:
    create_dataset(client, alice_token, "iris", iris_csv(), "iris.csv")
    job = submit(
        client, alice_token, recipe="hpo", dataset="iris", model="iris-hpo", params=_search()
    )
    with WorkerThread(platform, slots=2):
        done = wait_for(client, alice_token, job["id"], timeout=180)
    assert done["status"] == "succeeded", done["reason"]
    assert done["progress"] == 1.0

    page = client.get(
        "/api/v1/jobs", params={"parent": job["id"]}, headers=bearer(alice_token)
    ).json()
    assert page["total"] == 4
    children = page["items"]
    assert {c["status"] for c in children} == {"succeeded"}
    assert {c["recipe"] for c in children} == {"tabular"}
    assert {c["model"] for c in children} == {"iris-hpo"}
    assert sorted(c["model_version"] for c in children) == [1, 2, 3, 4]

    # The study lives in the platform database, named after the job.
    study = optuna.load_study(study_name=job["id"], storage=open_storage(platform.db))
    assert len(study.trials) == 4
    best_child = max(children, key=lambda c: c["metrics"]["accuracy"])
    assert study.best_value == best_child["metrics"]["accuracy"]
    assert done["metrics"]["accuracy"] == study.best_value
    assert done["best_params"] == study.best_params
    best_trials = [c for c in children if c["metrics"]["accuracy"] == study.best_value]
    assert done["model_version"] in {c["model_version"] for c in best_trials}

    trials = client.get(f"/api/v1/jobs/{job['id']}/trials", headers=bearer(alice_token))
    assert trials.status_code == 200, trials.text
    body = trials.json()
    assert body["total"] == 4
    assert [t["number"] for t in body["items"]] == [0, 1, 2, 3]
    assert {t["state"] for t in body["items"]} == {"complete"}
    assert {t["job_id"] for t in body["items"]} == {c["id"] for c in children}
    for trial in body["items"]:
        child = next(c for c in children if c["id"] == trial["job_id"])
        assert trial["value"] == child["metrics"]["accuracy"]
        assert {k: child["params"][k] for k in trial["params"]} == trial["params"]
        assert child["params"]["target"] == "species"
    assert body["best"]["value"] == study.best_value
    assert body["items"][-1]["best_value"] == study.best_value

    # Every trial's version records its own parameters; the search's is the best one's.
    version = client.get(
        f"/api/v1/models/iris-hpo/versions/{done['model_version']}", headers=bearer(alice_token)
    ).json()
    assert version["params"]["recipe"] == "tabular"
    assert version["metrics"]["accuracy"] == study.best_value
    logs = client.get(f"/api/v1/jobs/{job['id']}/logs", headers=bearer(alice_token)).text
    assert "trial 3 queued as job" in logs
    assert "best: trial" in logs


@SQLITE_ONLY
def test_two_workers_serve_one_search_and_a_one_slot_worker_runs_its_trials(
    client: TestClient, alice_token: str, platform: Platform
) -> None:
    job = _submit_steps_search(client, alice_token, n_trials=4, params={"step_s": 0.3})
    with WorkerThread(platform, slots=1), WorkerThread(platform, slots=1):
        done = wait_for(client, alice_token, job["id"], timeout=120)
    assert done["status"] == "succeeded", done["reason"]
    children = _children(platform, job["id"])
    assert len(children) == 4
    assert {c.status for c in children} == {"succeeded"}
    assert len({c.worker_id for c in children}) == 2  # both workers ran trials
    assert done["metrics"]["steps"] == min(c.summary["steps"] for c in children)


@SQLITE_ONLY
def test_failed_trials_are_told_and_the_search_goes_on(
    client: TestClient, alice_token: str, platform: Platform
) -> None:
    space = {
        "steps": {"type": "int", "low": 1, "high": 3},
        "fail_with": {"type": "categorical", "choices": ["boom", ""]},
    }
    job = _submit_steps_search(
        client, alice_token, space=space, n_trials=6, sampler="random", seed=5
    )
    with WorkerThread(platform, slots=2):
        done = wait_for(client, alice_token, job["id"], timeout=120)
    trials = client.get(f"/api/v1/jobs/{job['id']}/trials", headers=bearer(alice_token)).json()
    states = {t["params"]["fail_with"]: set() for t in trials["items"]}
    for t in trials["items"]:
        states[t["params"]["fail_with"]].add((t["state"], t["job_status"]))
    assert states["boom"] == {("fail", "failed")}
    assert done["status"] == "succeeded", done["reason"]
    assert done["best_params"]["fail_with"] == ""
    assert trials["total"] == 6


@SQLITE_ONLY
def test_drawn_parameters_the_recipe_refuses_are_failed_trials(
    client: TestClient, alice_token: str, platform: Platform
) -> None:
    # The corners (1 and 8) pass the submission's check; most values between are refused.
    # Seed 8 draws 7, 8, 7, 5, 2, 1, 4, 4: the first three run, so the search never gives up.
    params = {"step_s": 0.01, "refused_steps": [2, 3, 4, 5, 6]}
    space = {"steps": {"type": "int", "low": 1, "high": 8}}
    job = _submit_steps_search(
        client,
        alice_token,
        params=params,
        space=space,
        n_trials=8,
        parallelism=3,
        sampler="random",
        seed=8,
    )
    with WorkerThread(platform, slots=2):
        done = wait_for(client, alice_token, job["id"], timeout=120)
    trials = client.get(f"/api/v1/jobs/{job['id']}/trials", headers=bearer(alice_token)).json()
    refused = [t for t in trials["items"] if t["params"]["steps"] in params["refused_steps"]]
    accepted = [t for t in trials["items"] if t not in refused]
    assert refused, "the seed should draw refused values"
    assert accepted, "the seed should draw accepted values"
    assert {(t["state"], t["job_id"]) for t in refused} == {("fail", None)}
    assert {t["state"] for t in accepted} == {"complete"}
    # Refused draws count as trials: no more than n_trials in all, one job per accepted one.
    assert trials["total"] == 8
    assert len(_children(platform, job["id"])) == len(accepted)
    assert done["status"] == "succeeded", done["reason"]
    with platform.db.session() as s:
        text = "".join(s.scalars(select(JobLog.text).where(JobLog.job_id == job["id"])))
    assert "parameters refused" in text


@SQLITE_ONLY
def test_a_search_whose_trials_all_fail_gives_up(
    client: TestClient, alice_token: str, platform: Platform
) -> None:
    job = _submit_steps_search(
        client, alice_token, params={"fail_with": "boom"}, n_trials=20, parallelism=2
    )
    with WorkerThread(platform, slots=2):
        done = wait_for(client, alice_token, job["id"], timeout=120)
    assert done["status"] == "failed"
    assert "all failed" in done["reason"]
    # It stops queueing after three failures; the trials already queued then still run.
    assert 3 <= len(_children(platform, job["id"])) <= 4


def test_cancelling_a_search_cancels_its_trials(
    client: TestClient, alice_token: str, platform: Platform
) -> None:
    job = _submit_steps_search(
        client,
        alice_token,
        params={"step_s": 5.0},
        space={"steps": {"type": "int", "low": 20, "high": 30}},
    )
    with WorkerThread(platform, slots=1):

        def one_running(_: dict[str, Any]) -> bool:
            return any(c.status == "running" for c in _children(platform, job["id"]))

        wait_for(client, alice_token, job["id"], until=one_running)
        answer = client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=bearer(alice_token))
        assert answer.status_code == 200, answer.text
        done = wait_for(client, alice_token, job["id"])
        assert done["status"] == "cancelled"

        def children_ended(_: dict[str, Any]) -> bool:
            return all(c.status == "cancelled" for c in _children(platform, job["id"]))

        wait_for(client, alice_token, job["id"], until=children_ended, timeout=30)
    assert len(_children(platform, job["id"])) == 2  # no trial queued after the cancel
    trials = client.get(f"/api/v1/jobs/{job['id']}/trials", headers=bearer(alice_token)).json()
    assert {t["state"] for t in trials["items"]} == {"fail"}


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (
            {"space": {"depth": {"type": "int", "low": 1, "high": 3}}},
            "params.space.depth",
            "no parameter",
        ),
        (
            {"space": {"steps": {"type": "int", "low": 0, "high": 3}}},
            "params.space.steps",
            "greater than or equal to 1",
        ),
        (
            {"space": {"steps": {"type": "float", "low": 3, "high": 1}}},
            "params.space.steps",
            "low must not be above high",
        ),
        ({"params": {"step_s": -1}}, "params.params.step_s", "greater than or equal to 0"),
        ({"recipe": "nope"}, "params.recipe", "unknown recipe"),
        ({"n_trials": 0}, "params.n_trials", "greater than or equal to 1"),
        (
            {"params": {"steps": 2}},
            "params.space.steps",
            "either fixed or searched",
        ),
    ],
)
def test_an_invalid_search_is_refused_naming_the_field(
    client: TestClient,
    alice_token: str,
    change: dict[str, Any],
    field: str,
    words: str,
) -> None:
    body = {"recipe": "hpo", "model": "steps-hpo", "params": _steps_search(**change)}
    answer = client.post("/api/v1/jobs", json=body, headers=bearer(alice_token))
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["details"]["field"] == field, error
    assert words in error["message"], error


@SQLITE_ONLY
def test_a_search_over_a_dataset_checks_the_inner_recipe_formats(
    client: TestClient, alice_token: str
) -> None:
    create_dataset(client, alice_token, "iris", iris_csv(), "iris.csv")
    space = {"library": {"type": "categorical", "choices": ["sklearn", "xgboost"]}}
    params = _search(space=space)
    body = {"recipe": "hpo", "model": "iris-hpo", "dataset": "iris", "params": params}
    answer = client.post("/api/v1/jobs", json=body, headers=bearer(alice_token))
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["details"]["field"] == "params.space.library"
    assert "different formats" in answer.json()["error"]["message"]
    body = {"recipe": "hpo", "model": "iris-hpo", "params": _search()}
    answer = client.post("/api/v1/jobs", json=body, headers=bearer(alice_token))
    assert answer.status_code == 422
    assert answer.json()["error"]["details"]["field"] == "dataset"


@SQLITE_ONLY
def test_deleting_jobs(
    client: TestClient, alice_token: str, bob_token: str, platform: Platform
) -> None:
    job = submit(client, alice_token, recipe="hpo", model="steps-hpo", params=_steps_search())
    busy = client.delete(f"/api/v1/jobs/{job['id']}", headers=bearer(alice_token))
    assert busy.status_code == 409, busy.text
    with WorkerThread(platform, slots=2):
        done = wait_for(client, alice_token, job["id"], timeout=120)
    assert done["status"] == "succeeded", done["reason"]
    children = [c.id for c in _children(platform, job["id"])]
    assert len(children) == 3

    other = client.delete(f"/api/v1/jobs/{job['id']}", headers=bearer(bob_token))
    assert other.status_code == 404
    gone = client.delete(f"/api/v1/jobs/{job['id']}", headers=bearer(alice_token))
    assert gone.status_code == 204, gone.text
    for job_id in [job["id"], *children]:
        answer = client.get(f"/api/v1/jobs/{job_id}", headers=bearer(alice_token))
        assert answer.status_code == 404
    with platform.db.session() as s:
        assert not s.scalars(select(JobLog).where(JobLog.job_id.in_([job["id"], *children]))).all()
    with pytest.raises(KeyError):
        optuna.load_study(study_name=job["id"], storage=open_storage(platform.db))
    # The model versions the trials registered stay in the catalog.
    versions = client.get("/api/v1/models/steps-hpo", headers=bearer(alice_token)).json()
    assert versions["latest_version"] == 3
    again = client.delete(f"/api/v1/jobs/{job['id']}", headers=bearer(alice_token))
    assert again.status_code == 404


@SQLITE_ONLY
def test_trials_of_a_job_that_is_not_a_search(client: TestClient, alice_token: str) -> None:
    job = submit(client, alice_token, recipe="steps", model="plain", params={"steps": 1})
    answer = client.get(f"/api/v1/jobs/{job['id']}/trials", headers=bearer(alice_token))
    assert answer.status_code == 404


@SQLITE_ONLY
def test_sdk_and_cli_show_trials_and_delete_a_search(
    app: FastAPI, alice_token: str, platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    transport = InProcessTransport(app)
    with TrainingClient("http://testserver", alice_token, transport=transport) as sdk:
        job = sdk.submit_job("hpo", model="steps-hpo", params=_steps_search())
        with WorkerThread(platform, slots=2):
            done = sdk.wait_for_job(job["id"], timeout=120, poll=0.1)
        assert done["status"] == "succeeded", done["reason"]
        trials = sdk.trials(job["id"])
        assert trials["total"] == 3
        assert trials["best"]["value"] == done["metrics"]["steps"]
        children = sdk.list_jobs(parent=job["id"])
        assert {c["id"] for c in children["items"]} == {t["job_id"] for t in trials["items"]}

        monkeypatch.setattr(train_cli, "connect", lambda url, token: sdk)
        monkeypatch.setattr(TrainingClient, "__exit__", lambda *a: None)
        runner = CliRunner()
        shown = runner.invoke(train_cli.train_app, ["trials", job["id"]])
        assert shown.exit_code == 0, shown.output
        assert "NUMBER" in shown.output
        assert f"best: trial {trials['best']['number']}, steps" in shown.output
        listed = runner.invoke(train_cli.train_app, ["list", "--parent", job["id"], "--json"])
        assert listed.exit_code == 0, listed.output
        assert json.loads(listed.output)["total"] == 3
        deleted = runner.invoke(train_cli.train_app, ["delete", job["id"]])
        assert deleted.exit_code == 0, deleted.output
        with pytest.raises(errors.NotFound):
            sdk.get_job(job["id"])
        missing = runner.invoke(train_cli.train_app, ["delete", job["id"]])
        assert missing.exit_code == 1
    transport.close()
