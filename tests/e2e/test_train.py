"""The Train page in a browser: submit a tabular job on an iris CSV and follow it to success.

The shared `live_server` runs no worker, so this module starts its own server with one
(`serve --workers 1`) and its own data folder: its jobs (which the API cannot delete) stay
out of the other tests' counts.
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.e2e.conftest import new_context
from tests.servers import ServerProcess, running_server

DATASET = "iris-train-e2e"
MODEL = "iris-trained-e2e"
JOB_TIMEOUT_MS = 45_000


def iris_csv() -> bytes:
    """Iris with a text label column."""
    from sklearn.datasets import load_iris

    iris = load_iris(as_frame=True)
    frame = iris.frame
    frame["species"] = iris.target_names[frame.pop("target")]
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode()


@pytest.fixture(scope="module")
def train_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server with one training worker and a data folder of its own."""
    home: Path = tmp_path_factory.mktemp("aip-train")
    with running_server(home, "--no-demo", "--workers", "1") as server:
        yield server


@pytest.fixture(scope="module")
def api(train_server: ServerProcess) -> Iterator[httpx.Client]:
    """The admin's API client, with the iris dataset uploaded (deleted afterwards)."""
    token = train_server.cli("admin", "create-token", "--user", "admin").strip().splitlines()[-1]
    with httpx.Client(
        base_url=train_server.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as client:
        created = client.post("/api/v1/datasets", json={"name": DATASET, "format": "csv"})
        assert created.status_code == 201, created.text
        uploaded = client.post(
            f"/api/v1/datasets/{DATASET}/versions",
            files=[("file", ("iris.csv", iris_csv(), "text/csv"))],
        )
        assert uploaded.status_code == 201, uploaded.text
        try:
            yield client
        finally:
            client.delete(f"/api/v1/models/{MODEL}")
            client.delete(f"/api/v1/datasets/{DATASET}")


def field(page: Page, testid: str) -> Locator:
    """The whole Quasar field (label, input, error) of the element with this test id."""
    return page.get_by_test_id(testid).locator(
        "xpath=ancestor-or-self::label[contains(@class, 'q-field')]"
    )


def signed_in(browser: Browser, server: ServerProcess, user: str) -> Page:
    context = new_context(browser)
    page = context.new_page()
    page.goto(server.new_login_link(user))
    page.wait_for_url(f"{server.base_url}/")
    return page


def test_submit_a_tabular_job_and_watch_it_succeed(
    browser: Browser, train_server: ServerProcess, api: httpx.Client
) -> None:
    started = time.monotonic()
    base = train_server.base_url
    page = signed_in(browser, train_server, "admin")
    page.goto(f"{base}/train")
    expect(page.get_by_test_id("page-title")).to_have_text("Train")
    expect(page.get_by_test_id("job-list").get_by_test_id("empty-state")).to_be_visible()

    page.get_by_test_id("recipe").click()
    page.get_by_role("option", name="Tabular classification or regression").click()
    expect(page.get_by_test_id("dataset")).to_have_value(f"{DATASET} (csv)")
    expect(field(page, "param-library")).to_contain_text("sklearn")
    field(page, "model").locator("input").fill(MODEL)

    # No target: the service's 422 lands under the field it names.
    page.get_by_test_id("submit-job").click()
    target = field(page, "param-target")
    expect(target).to_contain_text("give a `target`")
    target.locator("input").fill("species")
    expect(target).not_to_contain_text("give a `target`")
    page.get_by_test_id("submit-job").click()

    page.wait_for_url(re.compile(r"/train/jobs/[^/]+$"))
    job_id = page.url.rsplit("/", 1)[-1]
    expect(page.get_by_test_id("page-title")).to_have_text(f"tabular → {MODEL}")
    expect(page.get_by_test_id("job-status")).to_have_text(
        re.compile("Succeeded"), timeout=JOB_TIMEOUT_MS
    )
    expect(page.get_by_test_id("job-logs")).to_contain_text("validation")
    expect(page.get_by_test_id("metric-validation_accuracy")).to_contain_text("0.9")
    expect(page.get_by_test_id("job-summary")).to_contain_text("accuracy")
    expect(page.get_by_test_id("job-progress")).to_be_visible()
    expect(page.get_by_test_id("cancel-job")).to_be_hidden()
    page.screenshot(path="/tmp/aip-train-job.png", full_page=True)

    job = api.get(f"/api/v1/jobs/{job_id}").json()
    assert job["status"] == "succeeded", job
    assert job["model_version"] == 1

    link = page.get_by_test_id("model-version-link")
    expect(link).to_have_text(f"{MODEL} v1")
    link.click()
    expect(page).to_have_url(f"{base}/catalog/models/{MODEL}?version=1")
    expect(page.get_by_test_id("entry-not-found")).to_have_count(0)
    expect(page.get_by_text(MODEL).first).to_be_visible()

    page.goto(f"{base}/train")
    row = page.get_by_test_id(f"job-row-{job_id}")
    expect(row).to_contain_text("Succeeded")
    page.screenshot(path="/tmp/aip-train.png", full_page=True)

    # Someone else's job does not exist for them.
    train_server.cli("admin", "create-token", "--user", "bob", "--create-user")
    other = signed_in(browser, train_server, "bob")
    other.goto(f"{base}/train/jobs/{job_id}")
    expect(other.get_by_test_id("job-not-found")).to_be_visible()
    other.context.close()
    page.context.close()
    assert time.monotonic() - started < 60


SEARCH_MODEL = "iris-search-e2e"


def test_a_search_job_shows_its_trials(
    browser: Browser, train_server: ServerProcess, api: httpx.Client
) -> None:
    params = {
        "recipe": "tabular",
        "params": {"target": "species", "validation_fraction": 0.3},
        "space": {"regularization": {"type": "float", "low": 0.01, "high": 10, "log": True}},
        "metric": "accuracy",
        "n_trials": 2,
        "parallelism": 1,
    }
    body = {"recipe": "hpo", "dataset": DATASET, "model": SEARCH_MODEL, "params": params}
    answer = api.post("/api/v1/jobs", json=body)
    assert answer.status_code == 201, answer.text
    job_id = answer.json()["id"]
    base = train_server.base_url
    page = signed_in(browser, train_server, "admin")
    try:
        # The new-job card starts on the recipe that needs no deep-learning data preparation.
        page.goto(f"{base}/train")
        expect(field(page, "recipe")).to_contain_text("Tabular classification or regression")

        page.goto(f"{base}/train/jobs/{job_id}")
        expect(page.get_by_test_id("page-title")).to_have_text(f"hpo → {SEARCH_MODEL}")
        expect(page.get_by_test_id("job-status")).to_have_text(
            re.compile("Succeeded"), timeout=2 * JOB_TIMEOUT_MS
        )
        table = page.get_by_test_id("trials-table")
        expect(table.get_by_test_id("trial-row-0")).to_be_visible()
        expect(table.get_by_test_id("trial-row-1")).to_be_visible()
        expect(table).to_contain_text("Complete")
        expect(page.get_by_test_id("trials-chart")).to_be_visible()
        expect(page.get_by_test_id("best-trial")).to_contain_text("best: trial")
        expect(page.get_by_test_id("model-version-link")).to_contain_text(SEARCH_MODEL)
        page.screenshot(path="/tmp/aip-train-search.png", full_page=True)

        # A trial links to its job, which links back to its search.
        table.get_by_test_id("trial-job-link").first.click()
        page.wait_for_url(re.compile(r"/train/jobs/[^/]+$"))
        expect(page.get_by_test_id("page-title")).to_have_text(f"tabular → {SEARCH_MODEL}")
        expect(page.get_by_test_id("parent-job-link")).to_have_text(job_id)

        assert api.delete(f"/api/v1/jobs/{job_id}").status_code == 204
        page.goto(f"{base}/train/jobs/{job_id}")
        expect(page.get_by_test_id("job-not-found")).to_be_visible()
    finally:
        page.context.close()
        api.delete(f"/api/v1/models/{SEARCH_MODEL}")
