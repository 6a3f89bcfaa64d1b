"""The Inference page in a real browser: pick the Iris model, send its prefilled example and
see the classes the model itself predicts; bad input shows the protocol's error and the page
keeps working; a CSV of three rows gives three predictions."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveServer

pytestmark = pytest.mark.e2e

EXAMPLE = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]
CSV_ROWS = [[4.9, 3.0, 1.4, 0.2], [6.3, 3.3, 6.0, 2.5], [5.5, 2.3, 4.0, 1.3]]


@dataclass(frozen=True)
class Served:
    """An Iris classifier in the catalog, and the estimator itself to compare with."""

    name: str
    model: Any

    def classes(self, rows: list[list[float]]) -> list[str]:
        return [str(c) for c in self.model.predict(rows).tolist()]


@pytest.fixture(scope="module")
def iris(admin_api: httpx.Client, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A logistic regression on scikit-learn's Iris data, uploaded as skops with a signature
    and an example (deleted afterwards: other tests count the catalog's models)."""
    import skops.io
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    x, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(x, y)
    path = tmp_path_factory.mktemp("iris") / "model.skops"
    skops.io.dump(model, path)
    name = f"e2e-infer-{secrets.token_hex(3)}"
    created = admin_api.post(
        "/api/v1/models",
        json={"name": name, "title": "Iris", "format": "sklearn", "objective": "classification"},
    )
    assert created.status_code == 201, created.text
    try:
        metadata = {
            "signature": {
                "inputs": [{"name": "input-0", "datatype": "FP64", "shape": [-1, 4]}],
                "outputs": [{"name": "output-0", "datatype": "INT64", "shape": [-1]}],
            },
            "example": {"instances": EXAMPLE},
        }
        uploaded = admin_api.post(
            f"/api/v1/models/{name}/versions",
            files=[("file", ("model.skops", path.read_bytes()))],
            data={"metadata": json.dumps(metadata)},
        )
        assert uploaded.status_code == 201, uploaded.text
        yield Served(name, model)
    finally:
        admin_api.delete(f"/api/v1/models/{name}")


def fill_editor(page: Page, text: str) -> None:
    editor = page.get_by_test_id("request-editor").locator(".cm-content")
    editor.fill(text)
    expect(page.get_by_test_id("request-editor")).to_contain_text(text[-20:])


def test_pick_iris_send_the_prefilled_example_and_see_the_predicted_classes(
    admin_page: Page, live_server: LiveServer, iris: Served
) -> None:
    page = admin_page
    page.goto(f"{live_server.base_url}/inference")
    page.get_by_test_id("model-select").click()
    page.get_by_role("option", name=re.compile(re.escape(iris.name))).click()
    expect(page).to_have_url(re.compile(rf"model={iris.name}"))
    expect(page.get_by_test_id("model-facts")).to_contain_text("scikit-learn")
    expect(page.get_by_test_id("version-select")).to_contain_text("v1")
    editor = page.get_by_test_id("request-editor")
    expect(editor).to_contain_text("[5.1, 3.5, 1.4, 0.2]")
    expect(page.get_by_test_id("request-validity")).to_have_text("Valid JSON · 3 rows")

    page.get_by_test_id("send").click()
    expected = iris.classes(EXAMPLE)
    expect(page.get_by_test_id("prediction-label")).to_have_text(expected)
    expect(page.get_by_test_id("result-count")).to_have_text("3 predictions")
    expect(page.get_by_test_id("result-status")).to_have_text(re.compile("200 OK"))
    expect(page.get_by_test_id("latency-infer")).to_contain_text("ms")
    expect(page.get_by_test_id("latency-round-trip")).to_contain_text("ms")
    # Per-class probabilities (v2 named output predict_proba), as the model computes them.
    bars = page.get_by_test_id("probability-row")
    expect(bars).to_have_count(3)
    first = iris.model.predict_proba(EXAMPLE[:1])[0]
    expect(bars.first.get_by_test_id("probability")).to_have_text(
        [f"{p * 100:.1f}%" for p in first]
    )
    page.get_by_test_id("result-json-tab").click()
    expect(page.get_by_test_id("result-json")).to_contain_text("predict_proba")
    curl = page.get_by_test_id("code-curl")
    expect(curl).to_contain_text(f"/v2/models/{iris.name}/versions/1/infer")
    expect(curl).to_contain_text("Bearer $AIP_TOKEN")

    # The same rows over KServe v1: labels only, the same classes.
    page.get_by_test_id("protocol-toggle").get_by_text("KServe v1").click()
    expect(editor).to_contain_text('"instances"')
    expect(page.get_by_test_id("code-curl")).to_contain_text(f"/v1/models/{iris.name}:predict")
    page.get_by_test_id("send").click()
    expect(page.get_by_test_id("history-entry").first).to_contain_text("KServe v1")
    expect(page.get_by_test_id("prediction-label")).to_have_text(expected)
    expect(page.get_by_test_id("probability-row")).to_have_count(0)


def test_bad_input_shows_the_protocol_error_and_the_page_stays_usable(
    admin_page: Page, live_server: LiveServer, iris: Served
) -> None:
    page = admin_page
    page.goto(f"{live_server.base_url}/inference?model={iris.name}")
    expect(page.get_by_test_id("request-editor")).to_contain_text("5.1")
    # The history belongs to the browser session, which the admin's pages share.
    page.get_by_test_id("history-clear").click()
    expect(page.get_by_test_id("history-empty")).to_be_visible()

    fill_editor(page, '{"inputs": [')
    expect(page.get_by_test_id("request-validity")).to_contain_text("Not valid JSON")
    page.get_by_test_id("send").click()
    error = page.get_by_test_id("result-error")
    expect(error).to_contain_text("400 Bad Request")
    expect(error).to_contain_text("request body is not valid JSON")

    wrong = {"name": "input-0", "datatype": "FP64", "shape": [1, 3], "data": [1, 2, 3]}
    fill_editor(page, json.dumps({"inputs": [wrong]}))
    page.get_by_test_id("send").click()
    expect(page.get_by_test_id("result-error-message")).to_have_text(
        "input 'input-0': shape [1, 3], the model expects [-1, 4]"
    )
    expect(page.get_by_test_id("result-error-body")).to_contain_text('{"error": "input')

    page.get_by_test_id("request-reset").click()
    page.get_by_test_id("send").click()
    expect(page.get_by_test_id("prediction-label")).to_have_text(iris.classes(EXAMPLE))

    # The history keeps all three; replaying the wrong shape answers the same error.
    entries = page.get_by_test_id("history-entry")
    expect(entries).to_have_count(3)
    entries.nth(1).get_by_test_id("history-replay").click()
    expect(page.get_by_test_id("result-error-message")).to_contain_text("shape [1, 3]")
    expect(entries).to_have_count(4)


def test_a_csv_of_three_rows_gives_three_predictions(
    admin_page: Page, live_server: LiveServer, iris: Served, tmp_path: Path
) -> None:
    page = admin_page
    csv = tmp_path / "flowers.csv"
    lines = ["sepal_length,sepal_width,petal_length,petal_width,species"]
    lines += [",".join(map(str, row)) + ",unknown" for row in CSV_ROWS]
    csv.write_text("\n".join(lines) + "\n")

    page.goto(f"{live_server.base_url}/inference?model={iris.name}")
    expect(page.get_by_test_id("request-editor")).to_contain_text("5.1")
    page.get_by_test_id("table-upload").locator("input[type=file]").set_input_files(csv)
    note = page.get_by_test_id("table-note")
    expect(note).to_contain_text("flowers.csv: 3 rows, 4 numeric columns")
    expect(note).to_contain_text("left out: species")
    expect(page.get_by_test_id("request-editor")).to_contain_text("6.3")
    expect(page.get_by_test_id("request-validity")).to_have_text("Valid JSON · 3 rows")

    page.get_by_test_id("send").click()
    expect(page.get_by_test_id("result-count")).to_have_text("3 predictions")
    expect(page.get_by_test_id("prediction-label")).to_have_text(iris.classes(CSV_ROWS))
    expect(page.get_by_test_id("result-table").locator("tbody tr")).to_have_count(3)
