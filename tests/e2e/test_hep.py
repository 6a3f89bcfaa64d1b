"""HEP in a real browser: the HZZ dataset page shows its trees, branches (jagged or not,
with min/max/mean) and a multiplicity histogram; the Zmumu ROOT file sent to the demo
classifier on the Inference page comes back per event, and the CSV download holds one row
per kept event with the predictions the REST route gives for the same file."""

from __future__ import annotations

import csv
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from aiplayground.hep.demo import HZZ, MODEL_NAME, ZMUMU
from tests.e2e.conftest import LiveServer

pytestmark = pytest.mark.e2e

ZMUMU_EVENTS = 2304  # entries of the file's tree (MODELS.md)
SLOW_MS = 60_000  # reading every event, or loading the model, on a busy machine


@pytest.fixture(scope="module")
def hzz_dataset(admin_api: httpx.Client) -> Iterator[str]:
    """uproot-HZZ.root as a ROOT dataset of one version (deleted afterwards)."""
    name = f"e2e-hzz-{secrets.token_hex(3)}"
    created = admin_api.post(
        "/api/v1/datasets", json={"name": name, "title": "HZZ events", "format": "root"}
    )
    assert created.status_code == 201, created.text
    try:
        with HZZ.open("rb") as f:
            uploaded = admin_api.post(
                f"/api/v1/datasets/{name}/versions",
                files={"file": (HZZ.name, f, "application/octet-stream")},
            )
        assert uploaded.status_code == 201, uploaded.text
        yield name
    finally:
        admin_api.delete(f"/api/v1/datasets/{name}")


@pytest.fixture(scope="module")
def hep_classifier(live_server: LiveServer, admin_api: httpx.Client) -> Iterator[str]:
    """The demo classifier, trained and registered by `aiplayground hep train-demo` on the
    server's data folder, as an operator would (deleted afterwards)."""
    done = subprocess.run(
        [sys.executable, "-m", "aiplayground", "hep", "train-demo"],
        env=live_server.env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    try:
        yield MODEL_NAME
    finally:
        admin_api.delete(f"/api/v1/models/{MODEL_NAME}")


def test_hzz_dataset_shows_branches_and_a_multiplicity_histogram(
    admin_page: Page, live_server: LiveServer, hzz_dataset: str
) -> None:
    page = admin_page
    page.goto(f"{live_server.base_url}/catalog/datasets/{hzz_dataset}")

    section = page.get_by_test_id("root-section")
    # Every event is read for the summary: allow a busy machine time for it.
    expect(section.get_by_test_id("root-tree-name")).to_have_text("events", timeout=SLOW_MS)
    expect(section.get_by_test_id("root-tree-kind")).to_have_text("TTree")
    expect(section.get_by_test_id("root-tree-entries")).to_have_text("2,421 entries")
    branches = section.get_by_test_id("root-branches")
    muon_px = branches.locator("tbody tr").filter(has_text="Muon_Px")
    expect(muon_px).to_contain_text("var * float32")
    expect(muon_px.locator("td").nth(2)).to_have_text("yes")
    met = branches.locator("tbody tr").filter(has_text="MET_px")
    expect(met.locator("td").nth(2)).to_have_text("no")
    expect(met.locator("td").nth(3)).not_to_have_text("—")  # a min was computed

    # The histogram starts on the muons: 59, 949, 1371, 34, 8 events with 0..4 muons, so
    # N = 2 holds every muon of 95 % of the events.
    chart = section.get_by_test_id("root-multiplicity")
    expect(chart.locator("canvas").first).to_be_visible()
    expect(section.get_by_test_id("root-jagged-select")).to_have_value("Muon_Px")
    expect(section.get_by_test_id("root-suggested")).to_contain_text("suggested N = 2")
    # A click on a jagged row shows that branch (jets: 0 to 5 per event, N = 3).
    branches.locator("tbody tr").filter(has_text="Jet_Px").click()
    expect(section.get_by_test_id("root-jagged-select")).to_have_value("Jet_Px")
    expect(section.get_by_test_id("root-suggested")).to_contain_text("suggested N = 3")


def test_zmumu_file_on_the_inference_page_downloads_predictions(
    admin_page: Page,
    live_server: LiveServer,
    admin_api: httpx.Client,
    hep_classifier: str,
    tmp_path: Path,
) -> None:
    # What the REST door answers for the same file: the page must agree with it.
    with ZMUMU.open("rb") as f:
        answered = admin_api.post(
            f"/api/v1/models/{hep_classifier}/predict-root",
            files={"file": (ZMUMU.name, f, "application/octet-stream")},
            timeout=120,
        )
    assert answered.status_code == 200, answered.text
    expected = answered.json()
    kept = expected["count"]
    assert 0 < kept <= ZMUMU_EVENTS

    page = admin_page
    page.goto(f"{live_server.base_url}/inference?model={hep_classifier}")
    card = page.get_by_test_id("root-card")
    expect(card).to_be_visible()
    upload = card.get_by_test_id("root-upload").locator("input[type=file]")
    # A file that is not ROOT says why, and the page takes the next one.
    broken = tmp_path / "broken.root"
    broken.write_bytes(b"root\x00" + b"not a ROOT file " * 64)
    upload.set_input_files(broken)
    expect(card.get_by_test_id("root-file-note")).to_contain_text(
        "broken.root is not a readable ROOT file", timeout=SLOW_MS
    )
    expect(card.get_by_test_id("root-send")).to_be_disabled()
    upload.set_input_files(ZMUMU)
    expect(card.get_by_test_id("root-file-note")).to_contain_text(
        "uproot-Zmumu.root", timeout=SLOW_MS
    )
    expect(card.get_by_test_id("root-tree-select")).to_contain_text("events")
    card.get_by_test_id("root-send").click()

    result = page.get_by_test_id("root-result")
    expect(result.get_by_test_id("result-count")).to_have_text(
        f"{kept:,} predictions", timeout=SLOW_MS
    )
    expect(result.get_by_test_id("root-kept-cut")).to_have_text(
        f"{ZMUMU_EVENTS:,} events in tree events: {kept:,} kept, "
        f"{ZMUMU_EVENTS - kept:,} cut by the preprocessing"
    )
    expect(page.get_by_test_id("result-status")).to_contain_text("200")
    expect(page.get_by_test_id("latency-server")).to_contain_text("ms")
    table = result.get_by_test_id("result-table")
    expect(table.locator("tbody tr")).to_have_count(10)  # the first page
    expect(table.locator("thead")).to_contain_text("class")
    expect(result.get_by_test_id("prediction-count").first).to_contain_text("Z->mumu")

    with page.expect_download() as download:
        result.get_by_test_id("root-download-csv").click()
    assert download.value.suggested_filename.endswith(".csv")
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    with saved.open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["entry", "prediction"]
    assert len(rows) == 1 + kept
    assert [int(r[0]) for r in rows[1:]] == expected["entries"]
    assert [int(r[1]) for r in rows[1:]] == expected["predictions"]

    # Class probabilities instead of labels: one column per class, the same winners.
    card.get_by_test_id("root-proba-switch").click()
    card.get_by_test_id("root-send").click()
    expect(table.locator("thead")).to_contain_text("p(Z->mumu)", timeout=SLOW_MS)
    with page.expect_download() as download:
        result.get_by_test_id("root-download-csv").click()
    saved = tmp_path / ("proba-" + download.value.suggested_filename)
    download.value.save_as(saved)
    with saved.open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["entry", "prediction_0", "prediction_1"]
    winners = [int(float(r[2]) > float(r[1])) for r in rows[1:]]
    assert winners == expected["predictions"]
