"""Jobs through HTTP: validation (422 naming the field), ownership, cancel, limits, logs."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from aiplayground.app import Platform
from aiplayground.training.worker import Worker
from tests.conftest import bearer
from tests.integration.training.conftest import (
    WorkerThread,
    create_dataset,
    iris_csv,
    submit,
    wait_for,
)


def _error(response: object) -> dict[str, object]:
    body = response.json()  # type: ignore[attr-defined]
    assert response.status_code == 422, body  # type: ignore[attr-defined]
    error: dict[str, object] = body["error"]
    return error


BAD_PARAMS = [
    ({"target": "species", "n_estimators": 0}, "params.n_estimators"),
    ({"target": "species", "library": "torch"}, "params.library"),
    ({"target": "species", "bogus": 1}, "params.bogus"),
    ({}, "params.target"),
    ({"target": "species; rm -rf /"}, "params.target"),
    ({"target": "$(curl evil)"}, "params.target"),
    ({"target": "species", "features": ["a", "b|c"]}, "params.features.1"),
]


def test_bad_params_are_refused_naming_the_field(client: TestClient, alice_token: str) -> None:
    create_dataset(client, alice_token, "iris", iris_csv())
    for params, field in BAD_PARAMS:
        body = {"recipe": "tabular", "dataset": "iris", "model": "m", "params": params}
        error = _error(client.post("/api/v1/jobs", json=body, headers=bearer(alice_token)))
        assert error["details"]["field"] == field  # type: ignore[index]
        assert str(error["message"]).startswith(field)
    assert client.get("/api/v1/jobs", headers=bearer(alice_token)).json()["total"] == 0


def test_bad_submissions(client: TestClient, alice_token: str, bob_token: str) -> None:
    create_dataset(client, alice_token, "iris", iris_csv())
    ok = {"recipe": "tabular", "dataset": "iris", "model": "m", "params": {"target": "species"}}

    def post(token: str = alice_token, **changes: object) -> object:
        return client.post("/api/v1/jobs", json={**ok, **changes}, headers=bearer(token))

    assert _error(post(recipe="nope"))["details"]["field"] == "recipe"  # type: ignore[index]
    assert _error(post(model="Not A Name"))["message"].startswith("model")  # type: ignore[union-attr]
    assert _error(post(dataset=None))["details"]["field"] == "dataset"  # type: ignore[index]
    two = post(resources={"processes": 2})
    assert _error(two)["details"]["field"] == "resources.processes"  # type: ignore[index]
    k8s = _error(post(executor="kubernetes"))
    assert k8s["details"]["field"] == "executor"  # type: ignore[index]
    assert "no Kubernetes cluster" in str(k8s["message"])
    too_long = post(resources={"time_limit_s": 10**9})
    assert _error(too_long)["details"]["field"] == "resources.time_limit_s"  # type: ignore[index]
    assert post(dataset_version=9).status_code == 404
    assert post(bob_token).status_code == 404  # alice's private dataset does not exist for bob


def test_other_users_jobs_do_not_exist_for_them(
    client: TestClient, alice_token: str, bob_token: str, admin_token: str, viewer_token: str
) -> None:
    job = submit(client, alice_token, recipe="steps", model="counted")
    for method, path in [
        ("GET", f"/api/v1/jobs/{job['id']}"),
        ("GET", f"/api/v1/jobs/{job['id']}/logs"),
        ("GET", f"/api/v1/jobs/{job['id']}/logs?follow=true"),
        ("GET", f"/api/v1/jobs/{job['id']}/metrics"),
        ("POST", f"/api/v1/jobs/{job['id']}/cancel"),
    ]:
        assert client.request(method, path, headers=bearer(bob_token)).status_code == 404, path
    assert client.get("/api/v1/jobs", headers=bearer(bob_token)).json()["total"] == 0
    assert client.get("/api/v1/jobs", headers=bearer(admin_token)).json()["total"] == 0
    everyone = client.get("/api/v1/jobs?all=true", headers=bearer(admin_token)).json()
    assert [j["id"] for j in everyone["items"]] == [job["id"]]
    viewer = {"recipe": "steps", "model": "v"}
    assert client.post("/api/v1/jobs", json=viewer, headers=bearer(viewer_token)).status_code == 403
    assert client.get("/api/v1/jobs").status_code == 401
    # A model bob owns cannot be alice's target.
    client.post(
        "/api/v1/models", json={"name": "bobs", "format": "onnx"}, headers=bearer(bob_token)
    )
    taken = {"recipe": "steps", "model": "bobs"}
    assert client.post("/api/v1/jobs", json=taken, headers=bearer(alice_token)).status_code == 409


def test_recipes_are_listed_with_their_schemas(client: TestClient, alice_token: str) -> None:
    recipes = client.get("/api/v1/recipes", headers=bearer(alice_token)).json()
    by_name = {r["name"]: r for r in recipes["items"]}
    assert {"tabular", "mlp", "steps"} <= set(by_name)
    tabular = by_name["tabular"]
    assert tabular["dataset_formats"] == ["csv", "parquet", "root"]
    # Optional in the schema (ROOT datasets may label by file); required by a validator.
    assert "label_by_file" in tabular["params_schema"]["properties"]
    assert by_name["mlp"]["distributed"] is True


def test_cancel_a_queued_job(client: TestClient, alice_token: str) -> None:
    job = submit(client, alice_token, recipe="steps", model="counted")
    cancelled = client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=bearer(alice_token))
    assert cancelled.json()["status"] == "cancelled"
    again = client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=bearer(alice_token))
    assert again.status_code == 200
    assert again.json()["status"] == "cancelled"


def _job_pid(platform: Platform, job_id: str) -> int:
    pid_file = platform.settings.resolved_home / "jobs" / job_id / "pid"
    deadline = time.monotonic() + 30
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return int(pid_file.read_text())


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"


def test_cancel_stops_a_running_job_within_seconds(
    client: TestClient, alice_token: str, platform: Platform, worker: Worker
) -> None:
    job = submit(client, alice_token, recipe="steps", model="counted", params={"steps": 10_000})
    pid = _job_pid(platform, job["id"])
    asked = time.monotonic()
    client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=bearer(alice_token))
    done = wait_for(client, alice_token, job["id"], timeout=10)
    assert done["status"] == "cancelled"
    assert time.monotonic() - asked < 5
    assert _gone(pid)
    assert done["model_version"] is None


def test_time_limit_stops_and_fails_the_job(
    client: TestClient, alice_token: str, platform: Platform, worker: Worker
) -> None:
    job = submit(
        client,
        alice_token,
        recipe="steps",
        model="counted",
        params={"steps": 10_000},
        resources={"time_limit_s": 3},
    )
    done = wait_for(client, alice_token, job["id"], timeout=30)
    assert done["status"] == "failed"
    assert "time limit of 3 s exceeded" in done["reason"]
    pid_file = platform.settings.resolved_home / "jobs" / job["id"] / "pid"
    if pid_file.exists():  # on a very busy machine the limit may strike before it is written
        assert _gone(int(pid_file.read_text()))
    log = client.get(f"/api/v1/jobs/{job['id']}/logs", headers=bearer(alice_token)).text
    assert "time limit" in log


def test_failures_say_why_and_the_job_env_holds_no_credentials(
    client: TestClient, alice_token: str, worker: Worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIP_STORAGE__S3_SECRET_ACCESS_KEY", "hunter2")
    failing = submit(
        client, alice_token, recipe="steps", model="counted", params={"fail_with": "no luck"}
    )
    done = wait_for(client, alice_token, failing["id"])
    assert (done["status"], done["reason"]) == ("failed", "no luck")
    log = client.get(f"/api/v1/jobs/{failing['id']}/logs", headers=bearer(alice_token)).text
    environment = next(line for line in log.splitlines() if line.startswith("environment:"))
    assert "AIP_STORAGE" not in environment
    assert "AIP_DATABASE_URL" not in environment
    assert "hunter2" not in log
    assert "HOME" in environment


def test_a_succeeded_job_reports_metrics_logs_and_its_version(
    client: TestClient, alice_token: str, worker: Worker
) -> None:
    job = submit(client, alice_token, recipe="steps", model="counted", params={"steps": 5})
    streamed = client.get(f"/api/v1/jobs/{job['id']}/logs?follow=true", headers=bearer(alice_token))
    assert "[worker] succeeded" in streamed.text  # the stream ends when the job does
    done = wait_for(client, alice_token, job["id"])
    assert (done["status"], done["model_version"], done["attempts"]) == ("succeeded", 1, 1)
    metrics = client.get(f"/api/v1/jobs/{job['id']}/metrics", headers=bearer(alice_token)).json()
    assert [step for step, _ in metrics["series"]["loss"]] == [1, 2, 3, 4, 5]
    page = client.get("/api/v1/jobs?status=succeeded", headers=bearer(alice_token)).json()
    assert page["total"] == 1
    assert page["items"][0]["metrics"] == {"steps": 5.0}
    second = submit(client, alice_token, recipe="steps", model="counted", params={"steps": 1})
    assert wait_for(client, alice_token, second["id"])["model_version"] == 2


def test_a_user_runs_at_most_the_limit_of_jobs_at_once(
    client: TestClient, alice_token: str, bob_token: str, platform: Platform
) -> None:
    platform.settings.training.max_concurrent_per_user = 1
    slow = {"steps": 8, "step_s": 0.1}
    jobs = [submit(client, alice_token, recipe="steps", model="a", params=slow) for _ in range(2)]
    bobs = submit(client, bob_token, recipe="steps", model="b", params=slow)
    with WorkerThread(platform, slots=3):
        seen_both_running = False
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            states = [
                client.get(f"/api/v1/jobs/{j['id']}", headers=bearer(t)).json()["status"]
                for j, t in [(jobs[0], alice_token), (jobs[1], alice_token), (bobs, bob_token)]
            ]
            assert states[:2].count("running") <= 1
            seen_both_running |= "running" in states[:2] and states[2] == "running"
            if all(s == "succeeded" for s in states):
                break
            time.sleep(0.05)
        assert all(s == "succeeded" for s in states), states
    assert seen_both_running  # bob is not held up by alice's limit
