"""Remote ROOT datasets: root:// from a real XRootD server and http(s) with Range, on loopback."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import uproot
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from aiplayground.app import Platform
from aiplayground.catalog.schemas import FileEntry
from aiplayground.cli import catalog as catalog_cli
from aiplayground.hep.demo import HZZ, ZMUMU
from aiplayground.hep.reader import summarize
from aiplayground.sdk import Client
from aiplayground.settings import Settings
from aiplayground.training import workspace
from aiplayground.training.context import DATA_DIR, JobSpec
from tests.conftest import bearer
from tests.inprocess import InProcessTransport
from tests.xrootd_server import FileServer, range_http_server, xrootd_server

HZZ_EVENTS = 2421


@pytest.fixture(scope="module")
def xrootd() -> Iterator[FileServer]:
    with xrootd_server() as server:
        server.add(HZZ)
        (server.folder / "notes.root").write_text("not a ROOT file\n")
        (server.folder / "notes.root").chmod(0o644)
        yield server


@pytest.fixture(scope="module")
def http_files() -> Iterator[FileServer]:
    with range_http_server() as server:
        server.add(HZZ)
        (server.folder / "notes.root").write_text("not a ROOT file\n")
        yield server


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Loopback allowed by the admin allow-list (the policy itself stays strict)."""
    return Settings(
        home=tmp_path / "home",
        demo=False,
        server={"ui": False},  # type: ignore[arg-type]
        network={"allowed_hosts": ["127.0.0.1"], "timeout_s": 5.0},  # type: ignore[arg-type]
    )


@pytest.fixture
def api(app: FastAPI, admin_token: str) -> Iterator[TestClient]:
    with TestClient(app, headers=bearer(admin_token)) as client:
        created = client.post("/api/v1/datasets", json={"name": "hzz", "format": "root"})
        assert created.status_code == 201, created.text
        yield client


def _register(client: TestClient, *urls: str, dataset: str = "hzz") -> dict[str, object]:
    response = client.post(f"/api/v1/datasets/{dataset}/versions/remote", json={"urls": list(urls)})
    return {"http_status": response.status_code, **response.json()}


@pytest.mark.parametrize("server", ["xrootd", "http_files"])
def test_remote_version_lists_trees_summarizes_and_downloads(
    api: TestClient, platform: Platform, server: str, request: pytest.FixtureRequest
) -> None:
    files: FileServer = request.getfixturevalue(server)
    url = files.url(HZZ.name)
    version = _register(api, url)
    assert version["http_status"] == 201, version
    (entry,) = version["files"]  # type: ignore[misc]
    assert entry == {"path": HZZ.name, "size": HZZ.stat().st_size, "sha256": "", "url": url}
    (tree,) = version["schema"]["trees"]  # type: ignore[index]
    assert (tree["name"], tree["entries"]) == ("events", HZZ_EVENTS)
    assert next(b for b in tree["branches"] if b["name"] == "Muon_Px")["jagged"]

    summary = api.get("/api/v1/datasets/hzz/versions/1/root-summary")
    assert summary.status_code == 200, summary.text
    (summarized,) = summary.json()["files"][0]["trees"]
    muon = next(b for b in summarized["branches"] if b["name"] == "Muon_Px")
    assert sum(muon["summary"]["multiplicity"]["counts"]) == HZZ_EVENTS
    # The reader summarizes the URL itself too, chunk by chunk, without a local copy.
    direct = summarize(url, "events", step_size=20_000, remote=platform.datasets.remote)
    assert direct["trees"][0]["branches"] == summarized["branches"]

    # The platform reads the file for the caller, under the same policy.
    download = api.get(f"/api/v1/datasets/hzz/versions/1/files/{HZZ.name}")
    assert download.status_code == 200
    assert (
        hashlib.sha256(download.content).hexdigest() == hashlib.sha256(HZZ.read_bytes()).hexdigest()
    )

    # Deleting the dataset deletes no remote file.
    assert api.delete("/api/v1/datasets/hzz").status_code == 204
    assert (files.folder / HZZ.name).is_file()


def test_sdk_cli_and_summaries_per_file(
    app: FastAPI,
    admin_token: str,
    xrootd: FileServer,
    http_files: FileServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sdk = Client("http://testserver", admin_token, transport=InProcessTransport(app))
    monkeypatch.setattr(catalog_cli, "connect", lambda url, token: sdk)
    monkeypatch.setattr(Client, "__exit__", lambda *a: None)
    registered = CliRunner().invoke(
        catalog_cli.datasets_app,
        ["register-remote", "hzz", xrootd.url(HZZ.name), http_files.url(HZZ.name), "--create"],
    )
    assert registered.exit_code == 0, registered.output
    assert "registered hzz version 1: 2 remote file(s)" in registered.output
    first = sdk.get_dataset_version("hzz", 1)
    assert [f["path"] for f in first["files"]] == [HZZ.name, "uproot-HZZ-2.root"]

    # Another file at another URL: its summary is its own (remote files have no sha256).
    second = sdk.add_remote_dataset_version("hzz", [http_files.add(ZMUMU)], "Z to mumu")
    assert second["version"] == 2
    assert second["description"] == "Z to mumu"
    summaries = [sdk.root_summary("hzz", n, tree="events") for n in (1, 2)]
    entries = [[f["trees"][0]["entries"] for f in s["files"]] for s in summaries]
    with uproot.open(ZMUMU) as local:
        assert entries == [[HZZ_EVENTS, HZZ_EVENTS], [local["events"].num_entries]]


@pytest.mark.parametrize("server", ["xrootd", "http_files"])
def test_bad_remote_urls_get_a_clear_4xx(
    api: TestClient, server: str, request: pytest.FixtureRequest
) -> None:
    files: FileServer = request.getfixturevalue(server)
    not_root = _register(api, files.url("notes.root"))
    assert not_root["http_status"] == 422, not_root
    assert "not a readable ROOT file" in not_root["error"]["message"]  # type: ignore[index]
    missing = _register(api, files.url("missing.root"))
    assert missing["http_status"] == 400, missing
    assert "no file at" in missing["error"]["message"]  # type: ignore[index]
    # A closed port: unreachable, said so at once (no minutes of XRootD retries).
    closed = files.base_url.replace(f":{files.port}/", ":9/")  # the discard port: nobody
    unreachable = _register(api, f"{closed}{HZZ.name}")
    assert unreachable["http_status"] == 422, unreachable
    assert "not reachable" in unreachable["error"]["message"]  # type: ignore[index]
    assert api.get("/api/v1/datasets/hzz").json()["versions"] == []


def test_urls_with_credentials_queries_or_other_schemes_are_refused(
    api: TestClient, xrootd: FileServer
) -> None:
    port = xrootd.port
    for url in (
        f"root://user:secret@127.0.0.1:{port}//{HZZ.name}",
        f"root://127.0.0.1:{port}//{HZZ.name}?authz=token",
        f"https://user:secret@example.org/{HZZ.name}",
        f"file:///etc/{HZZ.name}",
        f"s3://bucket/{HZZ.name}",
        f"root://127.0.0.1:{port}//",
        "root://no-such-host.invalid//data.root",
        "root://a\x00b//data.root",
        "root://[::1//data.root",
    ):
        refused = _register(api, url)
        assert refused["http_status"] == 422, (url, refused)
        assert "secret" not in str(refused)


def test_internal_hosts_are_refused_without_the_allow_list(
    tmp_path: Path, xrootd: FileServer, http_files: FileServer
) -> None:
    from aiplayground.app import build_platform, create_app
    from tests.conftest import make_token

    strict = Settings(home=tmp_path / "strict", demo=False, server={"ui": False})  # type: ignore[arg-type]
    platform = build_platform(strict)
    platform.start()
    try:
        token = make_token(platform, "root-admin")
        with TestClient(create_app(strict, platform), headers=bearer(token)) as client:
            client.post("/api/v1/datasets", json={"name": "hzz", "format": "root"})
            for url in (xrootd.url(HZZ.name), http_files.url(HZZ.name)):
                refused = _register(client, url)
                assert refused["http_status"] == 403, refused
                assert "allowed_hosts" in refused["error"]["message"]  # type: ignore[index]
    finally:
        platform.close()


def test_only_root_datasets_take_remote_versions(api: TestClient, xrootd: FileServer) -> None:
    api.post("/api/v1/datasets", json={"name": "table", "format": "csv"})
    response = api.post(
        "/api/v1/datasets/table/versions/remote", json={"urls": [xrootd.url(HZZ.name)]}
    )
    assert response.status_code == 422
    assert "ROOT" in response.json()["error"]["message"]


@pytest.mark.parametrize("server", ["xrootd", "http_files"])
def test_workspace_streams_remote_files_into_the_job_folder(
    platform: Platform, server: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    files: FileServer = request.getfixturevalue(server)
    remote = platform.datasets.remote
    assert remote is not None
    entry = FileEntry(
        path="events/hzz.root",
        key="datasets/remote/x",
        size=HZZ.stat().st_size,
        sha256="",
        url=files.url(HZZ.name),
    )
    notes: list[str] = []
    spec = JobSpec(job_id="j1", recipe="tabular", recipe_module="m", params={})
    root = tmp_path / "job"
    workspace.prepare(root, spec, platform.storage, [entry], remote=remote, note=notes.append)
    assert (root / DATA_DIR / "events/hzz.root").read_bytes() == HZZ.read_bytes()
    assert notes[0].startswith("copying events/hzz.root")
    assert notes[-1] == "copied events/hzz.root"

    # The copy is bounded: a file past the limit fails the preparation, leaving no data file.
    remote.max_copy_bytes, saved = 1000, remote.max_copy_bytes
    try:
        with pytest.raises(Exception, match="more than"):
            workspace.prepare(tmp_path / "job2", spec, platform.storage, [entry], remote=remote)
    finally:
        remote.max_copy_bytes = saved
    assert not (tmp_path / "job2" / DATA_DIR / "events/hzz.root").exists()


def test_a_tabular_job_trains_on_remote_root_files(
    tmp_path: Path, xrootd: FileServer, http_files: FileServer
) -> None:
    from aiplayground.app import build_platform, create_app
    from aiplayground.training import data
    from tests.conftest import make_token
    from tests.integration.training.conftest import WorkerThread, training_settings, wait_for

    if not hasattr(data, "load_root"):
        pytest.skip("the ROOT training loader (training.data.load_root) is not in this tree")
    from aiplayground.hep.demo import muon_preprocessing

    settings = training_settings(
        tmp_path / "home",
        network={"allowed_hosts": ["127.0.0.1"], "timeout_s": 5.0},
    )
    platform = build_platform(settings)
    platform.start()
    try:
        token = make_token(platform, "alice")
        with (
            TestClient(create_app(settings, platform), headers=bearer(token)) as client,
            WorkerThread(platform),
        ):
            client.post("/api/v1/datasets", json={"name": "muons", "format": "root"})
            urls = [xrootd.url(HZZ.name), http_files.add(ZMUMU)]
            registered = _register(client, *urls, dataset="muons")
            assert registered["http_status"] == 201, registered
            params = {
                "label_by_file": {HZZ.name: 1, ZMUMU.name: 0},
                "preprocessing": muon_preprocessing().model_dump(mode="json", exclude={"tree"}),
                "library": "sklearn",
                "estimator": "random_forest",
                "n_estimators": 30,
                "validation_fraction": 0.3,
            }
            body = {"recipe": "tabular", "dataset": "muons", "model": "m", "params": params}
            job = client.post("/api/v1/jobs", json=body).json()
            done = wait_for(client, token, job["id"], timeout=120)
            assert done["status"] == "succeeded", done["reason"]
            assert done["metrics"]["accuracy"] > 0.8
            log = client.get(f"/api/v1/jobs/{job['id']}/logs").text
            assert f"copying {HZZ.name}" in log
            assert f"from {urls[1]}" in log
    finally:
        platform.close()
