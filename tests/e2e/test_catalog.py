"""The Catalog page in a real browser: add a model by upload, find it, open it, delete it;
user-written Markdown renders inert; datasets show their schema and first rows."""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import LiveServer, new_context

pytestmark = pytest.mark.e2e

HOSTILE_CARD = """\
# Hostile card

<script>window.__xss=1</script>

[x](javascript:alert(1)) and [y](JaVaScRiPt:window.__xss=3)

<img src=x onerror="window.__xss=2">

![pixel](https://tracker.example/pixel.png) **still bold** [docs](https://example.org/docs)
"""

SIGNATURE = (
    '{"signature": {"inputs": [{"name": "input-0", "datatype": "FP64", "shape": [-1, 4]}], '
    '"outputs": [{"name": "output-0", "datatype": "INT64", "shape": [-1]}]}, '
    '"example": {"instances": [[5.1, 3.5, 1.4, 0.2]]}, "metrics": {"accuracy": 0.97}}'
)


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


@pytest.fixture
def cleanup(admin_api: httpx.Client) -> Iterator[list[str]]:
    """REST paths to delete after the test, whatever happened in it."""
    paths: list[str] = []
    yield paths
    for path in paths:
        admin_api.delete(path)


@pytest.fixture
def iris_skops(tmp_path: Path) -> Path:
    """A real scikit-learn Iris classifier saved with skops."""
    import skops.io
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    x, y = load_iris(return_X_y=True)
    path = tmp_path / "iris-e2e.skops"
    skops.io.dump(LogisticRegression(max_iter=500).fit(x, y), path)
    return path


def test_add_a_model_by_upload_find_it_open_it_and_delete_it(
    admin_page: Page,
    live_server: LiveServer,
    admin_api: httpx.Client,
    iris_skops: Path,
    cleanup: list[str],
) -> None:
    page, base = admin_page, live_server.base_url
    name = unique("e2e-iris")
    cleanup.append(f"/api/v1/models/{name}")

    page.goto(f"{base}/catalog")
    page.get_by_test_id("catalog-add").click()
    page.get_by_test_id("add-model").click()
    dialog = page.get_by_test_id("add-model-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_test_id("field-title").fill("E2E Iris classifier")
    dialog.get_by_test_id("field-name").fill(name)
    dialog.get_by_test_id("field-description").fill("Classifies **iris** flowers from 4 features.")
    tags = dialog.get_by_test_id("field-tags")
    tags.fill("e2e")
    tags.press("Enter")
    dialog.locator("input[type=file]").set_input_files(iris_skops)
    expect(dialog.get_by_test_id("staged-file")).to_contain_text("iris-e2e.skops")
    # The format follows the file's suffix.
    expect(dialog.get_by_test_id("field-format")).to_contain_text("scikit-learn")
    dialog.get_by_test_id("field-metadata-toggle").click()
    dialog.get_by_test_id("field-metadata").fill(SIGNATURE)
    dialog.get_by_test_id("add-submit").click()

    # Storing and checking the files takes a moment on a busy machine.
    expect(page).to_have_url(re.compile(rf"/catalog/models/{name}(\?version=1)?$"), timeout=15_000)
    expect(page.get_by_test_id("page-title")).to_have_text("E2E Iris classifier")
    expect(page.get_by_test_id("model-card").locator("strong")).to_have_text("iris")
    expect(page.get_by_test_id("version-number")).to_have_text("Version 1")
    signature = page.get_by_test_id("version-signature")
    expect(signature).to_contain_text("input-0")
    expect(signature).to_contain_text("FP64")
    expect(page.get_by_test_id("version-metrics")).to_contain_text("0.97")
    expect(page.get_by_test_id("file-path")).to_have_text("iris-e2e.skops")
    download = page.get_by_test_id("file-download")
    href = download.get_attribute("href")
    assert href == f"/api/v1/models/{name}/versions/1/files/iris-e2e.skops"
    fetched = page.request.get(f"{base}{href}")  # the browser's session cookie
    assert fetched.status == 200
    assert fetched.body() == iris_skops.read_bytes()

    page.goto(f"{base}/catalog")
    page.get_by_test_id("catalog-search").fill(name)
    expect(page.get_by_test_id("catalog-count")).to_have_text("1 model")
    card = page.get_by_test_id("catalog-card")
    expect(card).to_have_count(1)
    expect(card.get_by_test_id("card-format")).to_contain_text("scikit-learn")
    expect(card.get_by_test_id("card-version")).to_have_text("v1")
    expect(page).to_have_url(re.compile(rf"/catalog\?tab=models&q={name}$"))
    card.click()
    expect(page).to_have_url(re.compile(rf"/catalog/models/{name}"))

    page.get_by_test_id("entry-delete").click()
    confirm = page.get_by_test_id("delete-confirm")
    expect(confirm).to_be_disabled()
    page.get_by_test_id("delete-confirm-name").fill(name)
    expect(confirm).to_be_enabled()
    confirm.click()
    expect(page).to_have_url(re.compile(r"/catalog\?tab=models$"), timeout=15_000)
    expect(page.locator(f"[data-entry='{name}']")).to_have_count(0)

    assert admin_api.get(f"/api/v1/models/{name}").status_code == 404
    listed = admin_api.get("/api/v1/models", params={"q": name}).json()
    assert listed["total"] == 0


def test_hostile_markdown_in_a_model_card_renders_inert(
    admin_page: Page, live_server: LiveServer, admin_api: httpx.Client, cleanup: list[str]
) -> None:
    page, base = admin_page, live_server.base_url
    name = unique("e2e-xss")
    cleanup.append(f"/api/v1/models/{name}")
    created = admin_api.post(
        "/api/v1/models",
        json={
            "name": name,
            "title": "<b>not bold</b>",
            "format": "onnx",
            "description": HOSTILE_CARD,
            "tags": ["e2e"],
        },
    )
    assert created.status_code == 201, created.text

    page.goto(f"{base}/catalog/models/{name}")
    card = page.get_by_test_id("model-card")
    expect(card.locator("h1")).to_have_text("Hostile card")
    expect(card.locator("strong")).to_have_text("still bold")
    expect(card).to_contain_text("<script>window.__xss=1</script>")
    expect(card).to_contain_text('<img src=x onerror="window.__xss=2">')
    expect(card.locator("a[href='https://example.org/docs']")).to_have_attribute(
        "rel", "noopener nofollow"
    )
    expect(page.get_by_test_id("page-title")).to_have_text("<b>not bold</b>")
    _assert_inert(page)

    page.goto(f"{base}/catalog?q={name}")
    expect(page.get_by_test_id("catalog-card")).to_have_count(1)
    expect(page.get_by_test_id("card-title")).to_have_text("<b>not bold</b>")
    _assert_inert(page)


def _assert_inert(page: Page) -> None:
    page.wait_for_timeout(300)  # let anything that would run, run
    assert page.evaluate("typeof window.__xss") == "undefined"
    hrefs = page.eval_on_selector_all("body [href]", "els => els.map(e => e.getAttribute('href'))")
    assert not [h for h in hrefs if h.strip().lower().startswith(("javascript:", "data:"))]
    assert page.locator("[onerror], [onload], [onclick]").count() == 0
    sources = page.eval_on_selector_all("img", "els => els.map(e => e.getAttribute('src'))")
    assert not [s for s in sources if "tracker.example" in (s or "")]


def test_dataset_upload_shows_schema_and_preview(
    admin_page: Page, live_server: LiveServer, tmp_path: Path, cleanup: list[str]
) -> None:
    page, base = admin_page, live_server.base_url
    name = unique("e2e-flowers")
    cleanup.append(f"/api/v1/datasets/{name}")
    csv = tmp_path / "flowers.csv"
    csv.write_text("sepal_length,species\n5.1,setosa\n6.7,virginica\n=1+1,<b>x</b>\n")

    page.goto(f"{base}/catalog?tab=datasets")
    page.get_by_test_id("catalog-add").click()
    page.get_by_test_id("add-dataset").click()
    dialog = page.get_by_test_id("add-dataset-dialog")
    dialog.get_by_test_id("field-title").fill("Flowers")
    dialog.get_by_test_id("field-name").fill(name)
    dialog.locator("input[type=file]").set_input_files(csv)
    expect(dialog.get_by_test_id("staged-file")).to_contain_text("flowers.csv")
    dialog.get_by_test_id("add-submit").click()

    expect(page).to_have_url(re.compile(rf"/catalog/datasets/{name}"), timeout=15_000)
    expect(page.get_by_test_id("schema-summary")).to_contain_text("3 rows")
    expect(page.get_by_test_id("schema-columns")).to_contain_text("species")
    preview = page.get_by_test_id("dataset-preview")
    expect(preview).to_contain_text("virginica")
    expect(preview).to_contain_text("<b>x</b>")  # a cell is text, never markup
    expect(page.get_by_test_id("file-path")).to_have_text("flowers.csv")


def test_remote_endpoint_to_a_private_address_is_refused(
    admin_page: Page, live_server: LiveServer, admin_api: httpx.Client, cleanup: list[str]
) -> None:
    page, base = admin_page, live_server.base_url
    name = unique("e2e-remote")
    cleanup.append(f"/api/v1/models/{name}")
    page.goto(f"{base}/catalog")
    page.get_by_test_id("catalog-add").click()
    page.get_by_test_id("add-endpoint").click()
    dialog = page.get_by_test_id("add-endpoint-dialog")
    dialog.get_by_test_id("field-url").fill("http://169.254.169.254/latest")
    dialog.get_by_test_id("field-name").fill(name)
    dialog.get_by_test_id("probe-endpoint").click()
    expect(dialog.get_by_test_id("probe-status")).to_contain_text(re.compile(r"\S"))
    expect(dialog.get_by_test_id("probe-status").locator(".text-negative").first).to_be_visible()
    dialog.get_by_test_id("add-submit").click()
    expect(page.locator(".q-notification")).to_be_visible()
    expect(dialog).to_be_visible()
    assert admin_api.get(f"/api/v1/models/{name}").status_code == 404


@pytest.mark.adds_users
def test_another_users_private_model_is_not_found_and_a_public_one_is_read_only(
    browser: Browser, live_server: LiveServer, admin_api: httpx.Client, cleanup: list[str]
) -> None:
    base = live_server.base_url
    private, public, member = unique("e2e-private"), unique("e2e-public"), unique("member")
    for name, visibility in ((private, "private"), (public, "public")):
        cleanup.append(f"/api/v1/models/{name}")
        created = admin_api.post(
            "/api/v1/models", json={"name": name, "format": "onnx", "visibility": visibility}
        )
        assert created.status_code == 201, created.text
    subprocess.run(
        [sys.executable, "-m", "aiplayground", "admin", "create-user", member],
        env=live_server.env,
        capture_output=True,
        timeout=60,
        check=True,
    )
    context = new_context(browser)
    try:
        page = context.new_page()
        page.goto(live_server.new_login_link(member))
        page.wait_for_url(f"{base}/")

        page.goto(f"{base}/catalog/models/{private}")
        expect(page.get_by_test_id("entry-not-found")).to_be_visible()
        page.goto(f"{base}/catalog?q={private}")
        expect(page.get_by_test_id("catalog-count")).to_have_text("0 models")

        page.goto(f"{base}/catalog/models/{public}")
        expect(page.get_by_test_id("page-title")).to_have_text(public)
        expect(page.get_by_test_id("entry-edit")).to_have_count(0)
        expect(page.get_by_test_id("entry-delete")).to_have_count(0)
    finally:
        context.close()
