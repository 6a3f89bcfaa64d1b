"""The catalog through HTTP: models, versions, aliases, datasets, files and their limits."""

from __future__ import annotations

import io
import json
import pickle
import tarfile
import zipfile
from pathlib import Path

import pytest
import skops.io
from fastapi.testclient import TestClient
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from aiplayground.app import Platform, build_platform, create_app
from aiplayground.settings import Settings
from tests.conftest import bearer, make_token


@pytest.fixture(scope="module")
def iris_skops() -> bytes:
    x, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(x, y)
    return skops.io.dumps(model)


def create_model(client: TestClient, token: str, name: str = "iris", **extra: object) -> dict:
    body = {"name": name, "format": "sklearn", "objective": "classification", **extra}
    response = client.post("/api/v1/models", json=body, headers=bearer(token))
    assert response.status_code == 201, response.text
    return response.json()


def upload(
    client: TestClient,
    token: str,
    name: str,
    files: list[tuple[str, bytes]],
    metadata: dict | None = None,
    kind: str = "models",
):  # type: ignore[no-untyped-def]
    parts = [("file", (filename, data, "application/octet-stream")) for filename, data in files]
    data = {"metadata": json.dumps(metadata)} if metadata is not None else {}
    return client.post(
        f"/api/v1/{kind}/{name}/versions", files=parts, data=data, headers=bearer(token)
    )


def test_model_lifecycle(
    client: TestClient, alice_token: str, iris_skops: bytes, platform: Platform
) -> None:
    created = create_model(client, alice_token, tags=["tabular", "demo"], description="# Iris")
    assert created["owner"] == "alice"
    assert created["versions"] == []
    meta = {
        "signature": {
            "inputs": [{"name": "input-0", "datatype": "FP64", "shape": [-1, 4]}],
            "outputs": [{"name": "output-0", "datatype": "INT64", "shape": [-1]}],
        },
        "example": {"instances": [[5.1, 3.5, 1.4, 0.2]]},
        "metrics": {"accuracy": 0.97},
        "alias": "production",
    }
    v1 = upload(client, alice_token, "iris", [("model.skops", iris_skops)], meta)
    assert v1.status_code == 201, v1.text
    body = v1.json()
    assert body["version"] == 1
    assert body["aliases"] == ["production"]
    assert body["files"][0]["path"] == "model.skops"
    assert body["files"][0]["size"] == len(iris_skops)
    assert "key" not in body["files"][0]
    v2 = upload(client, alice_token, "iris", [("model.skops", iris_skops)])
    assert v2.json()["version"] == 2

    model = client.get("/api/v1/models/iris", headers=bearer(alice_token)).json()
    assert model["versions"] == [1, 2]
    assert model["latest_version"] == 2
    assert model["aliases"] == {"production": 1}

    download = client.get(
        "/api/v1/models/iris/versions/1/files/model.skops", headers=bearer(alice_token)
    )
    assert download.status_code == 200
    assert download.content == iris_skops
    assert download.headers["content-disposition"].startswith("attachment")
    assert download.headers["x-content-type-options"] == "nosniff"

    moved = client.put(
        "/api/v1/models/iris/aliases/production", json={"version": 2}, headers=bearer(alice_token)
    )
    assert moved.json()["aliases"] == {"production": 2}
    bad = client.put(
        "/api/v1/models/iris/aliases/production", json={"version": 9}, headers=bearer(alice_token)
    )
    assert bad.status_code == 404

    patched = client.patch(
        "/api/v1/models/iris",
        json={"description": "updated", "visibility": "public"},
        headers=bearer(alice_token),
    )
    assert patched.json()["description"] == "updated"

    keys = platform.storage.list("models")
    assert len(keys) == 2
    assert client.delete("/api/v1/models/iris", headers=bearer(alice_token)).status_code == 204
    assert client.get("/api/v1/models/iris", headers=bearer(alice_token)).status_code == 404
    assert platform.storage.list("models") == []


def test_duplicate_name_is_409_and_bad_names_are_422(client: TestClient, alice_token: str) -> None:
    create_model(client, alice_token)
    again = client.post(
        "/api/v1/models", json={"name": "iris", "format": "onnx"}, headers=bearer(alice_token)
    )
    assert again.status_code == 409
    for bad in ["Iris", "../x", "a/b", "", "x" * 200, "white space"]:
        response = client.post(
            "/api/v1/models", json={"name": bad, "format": "onnx"}, headers=bearer(alice_token)
        )
        assert response.status_code == 422, bad


def test_private_models_are_invisible_to_others(
    client: TestClient, alice_token: str, bob_token: str, admin_token: str, iris_skops: bytes
) -> None:
    create_model(client, alice_token)
    upload(client, alice_token, "iris", [("model.skops", iris_skops)])
    for method, path in [
        ("GET", "/api/v1/models/iris"),
        ("GET", "/api/v1/models/iris/versions/1"),
        ("GET", "/api/v1/models/iris/versions/1/files/model.skops"),
        ("PATCH", "/api/v1/models/iris"),
        ("DELETE", "/api/v1/models/iris"),
    ]:
        kwargs = {"json": {}} if method == "PATCH" else {}
        response = client.request(method, path, headers=bearer(bob_token), **kwargs)
        assert response.status_code == 404, (method, path)
    assert upload(client, bob_token, "iris", [("m.skops", iris_skops)]).status_code == 404
    assert client.get("/api/v1/models", headers=bearer(bob_token)).json()["total"] == 0
    assert client.get("/api/v1/models/iris", headers=bearer(admin_token)).status_code == 200

    client.patch("/api/v1/models/iris", json={"visibility": "public"}, headers=bearer(alice_token))
    assert client.get("/api/v1/models/iris", headers=bearer(bob_token)).status_code == 200
    denied = client.delete("/api/v1/models/iris", headers=bearer(bob_token))
    assert denied.status_code == 403


def test_viewer_cannot_create(client: TestClient, viewer_token: str) -> None:
    response = client.post(
        "/api/v1/models", json={"name": "x", "format": "onnx"}, headers=bearer(viewer_token)
    )
    assert response.status_code == 403


def test_list_filters_and_search(client: TestClient, alice_token: str) -> None:
    create_model(client, alice_token, "iris", tags=["tabular"], description="flowers")
    create_model(client, alice_token, "higgs", tags=["hep"], description="Higgs boson tagger")
    client.post(
        "/api/v1/models",
        json={"name": "chat", "format": "gguf", "objective": "text-generation"},
        headers=bearer(alice_token),
    )

    def names(**params: object) -> set[str]:
        response = client.get("/api/v1/models", params=params, headers=bearer(alice_token))
        assert response.status_code == 200
        return {m["name"] for m in response.json()["items"]}

    assert names() == {"iris", "higgs", "chat"}
    assert names(q="boson") == {"higgs"}
    assert names(q="IRIS") == {"iris"}
    assert names(tag="hep") == {"higgs"}
    assert names(format="gguf") == {"chat"}
    assert names(objective="classification") == {"iris", "higgs"}
    page = client.get("/api/v1/models?limit=2&offset=0", headers=bearer(alice_token)).json()
    assert page["total"] == 3
    assert len(page["items"]) == 2
    assert client.get("/api/v1/models?limit=0", headers=bearer(alice_token)).status_code == 422


def test_pickle_is_refused_unless_trusted(
    client: TestClient, alice_token: str, admin_token: str
) -> None:
    create_model(client, alice_token, "pickled", format="pytorch")
    payload = pickle.dumps({"weights": [1, 2, 3]})
    for filename in ["model.pt", "model.bin", "weights.joblib"]:
        refused = upload(client, alice_token, "pickled", [(filename, payload)])
        assert refused.status_code == 403, refused.text
        assert "trusted" in refused.json()["error"]["message"]
    not_admin = client.patch(
        "/api/v1/models/pickled", json={"trusted": True}, headers=bearer(alice_token)
    )
    assert not_admin.status_code == 403
    trusted = client.patch(
        "/api/v1/models/pickled", json={"trusted": True}, headers=bearer(admin_token)
    )
    assert trusted.json()["trusted"] is True
    accepted = upload(client, alice_token, "pickled", [("model.pt", payload)])
    assert accepted.status_code == 201, accepted.text


def test_hostile_file_names_are_stored_under_server_keys(
    client: TestClient, alice_token: str, iris_skops: bytes, platform: Platform
) -> None:
    create_model(client, alice_token)
    for name in ["../../evil.skops", "/etc/passwd.skops", "..\\x.skops", "a\x00b.skops"]:
        response = upload(client, alice_token, "iris", [(name, iris_skops)])
        assert response.status_code == 201, (name, response.text)
        path = response.json()["files"][0]["path"]
        assert ".." not in path.split("/")
        assert not path.startswith("/")
        assert "\x00" not in path
    for key in platform.storage.list("models"):
        assert key.startswith("models/")
        assert "evil" not in key
        assert "passwd" not in key


def test_archive_members_escaping_are_refused(client: TestClient, alice_token: str) -> None:
    create_model(client, alice_token, "hf", format="huggingface")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("config.json", "{}")
        archive.writestr("../../escape.txt", "x")
    response = upload(
        client, alice_token, "hf", [("model.zip", buffer.getvalue())], {"extract": True}
    )
    assert response.status_code == 422, response.text

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("link")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        archive.addfile(info)
    response = upload(
        client, alice_token, "hf", [("model.tar.gz", buffer.getvalue())], {"extract": True}
    )
    assert response.status_code == 422, response.text


def test_oversize_upload_is_413_and_leaves_nothing(settings: Settings) -> None:
    small = settings.model_copy(
        update={"limits": settings.limits.model_copy(update={"max_upload_bytes": 10_000})}
    )
    platform = build_platform(small)
    platform.start()
    token = make_token(platform, "alice")
    with TestClient(create_app(small, platform)) as client:
        create_model(client, token)
        response = upload(client, token, "iris", [("model.skops", b"\0" * 50_000)])
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "too_large"
        assert client.get("/api/v1/models/iris", headers=bearer(token)).json()["versions"] == []
        assert platform.storage.list("models") == []
        assert list(platform.staging.iterdir()) == []


def test_bad_uploads(client: TestClient, alice_token: str, iris_skops: bytes) -> None:
    create_model(client, alice_token)
    no_files = client.post(
        "/api/v1/models/iris/versions", data={"metadata": "{}"}, headers=bearer(alice_token)
    )
    assert no_files.status_code in (400, 422)
    not_multipart = client.post(
        "/api/v1/models/iris/versions", json={"x": 1}, headers=bearer(alice_token)
    )
    assert not_multipart.status_code == 400
    bad_meta = upload(client, alice_token, "iris", [("m.skops", iris_skops)], {"nonsense": 1})
    assert bad_meta.status_code == 422
    assert "nonsense" in bad_meta.json()["error"]["message"]
    wrong_format = upload(client, alice_token, "iris", [("m.gguf", b"GGUF....")])
    assert wrong_format.status_code == 422


def test_dataset_lifecycle_with_preview(
    client: TestClient, alice_token: str, bob_token: str
) -> None:
    created = client.post(
        "/api/v1/datasets", json={"name": "flowers", "format": "csv"}, headers=bearer(alice_token)
    )
    assert created.status_code == 201
    csv = b"sepal_length,species\n5.1,setosa\n6.2,virginica\n"
    response = upload(client, alice_token, "flowers", [("iris.csv", csv)], kind="datasets")
    assert response.status_code == 201, response.text
    version = response.json()
    assert version["version"] == 1
    assert [c["name"] for c in version["schema"]["columns"]] == ["sepal_length", "species"]
    assert version["preview"]["rows"][0][1] == "setosa"
    assert client.get("/api/v1/datasets/flowers", headers=bearer(bob_token)).status_code == 404
    listed = client.get("/api/v1/datasets?format=csv", headers=bearer(alice_token)).json()
    assert listed["total"] == 1
    got = client.get(
        "/api/v1/datasets/flowers/versions/1/files/iris.csv", headers=bearer(alice_token)
    )
    assert got.content == csv
    assert client.delete("/api/v1/datasets/flowers", headers=bearer(alice_token)).status_code == 204


def test_remote_endpoint_to_private_address_is_refused(
    client: TestClient, alice_token: str
) -> None:
    for url in ["http://127.0.0.1:9/", "http://169.254.169.254/", "file:///etc/passwd"]:
        response = client.post(
            "/api/v1/models/endpoints",
            json={"name": "remote", "url": url, "protocol": "kserve-v2"},
            headers=bearer(alice_token),
        )
        assert response.status_code in (400, 403, 422), (url, response.text)
    assert client.get("/api/v1/models/remote", headers=bearer(alice_token)).status_code == 404


def test_upload_of_a_model_path_traversal_name(tmp_path: Path) -> None:
    from aiplayground.catalog.files import safe_relative_path

    assert safe_relative_path("../../etc/passwd") == "etc/passwd"
    assert safe_relative_path("..\\..\\x") == "x"
    assert safe_relative_path("/abs/y") == "abs/y"
    assert safe_relative_path("a\x00b") == "ab"
    assert safe_relative_path("..") == "file"
    assert len(safe_relative_path("x" * 3000)) <= 1024


def test_concurrent_versions_of_one_model_get_distinct_numbers(
    database_url: str, tmp_path: Path, iris_skops: bytes
) -> None:
    """Jobs of one search register into one model at the same moment: none may fail."""
    from concurrent.futures import ThreadPoolExecutor

    from aiplayground.auth.principal import Role
    from aiplayground.catalog.files import IncomingFile
    from aiplayground.catalog.schemas import ModelCreate, VersionMetadata

    settings = Settings(
        home=tmp_path / "home",
        demo=False,
        database_url=database_url,
        server={"ui": False},  # type: ignore[arg-type]
    )
    platform = build_platform(settings)
    platform.start()
    try:
        user = platform.auth.ensure_user("racer", Role.MEMBER)
        caller = platform.auth.authenticate_token(platform.auth.create_token(user.id, "t").token)
        platform.models.create(caller, ModelCreate(name="raced", format="sklearn"))  # type: ignore[arg-type]
        paths = []
        for i in range(8):
            path = tmp_path / f"model-{i}.skops"
            path.write_bytes(iris_skops)
            paths.append(path)

        def add(path: Path) -> int:
            files = [IncomingFile("model.skops", path)]
            return platform.models.add_version(caller, "raced", files, VersionMetadata()).version

        with ThreadPoolExecutor(8) as pool:
            numbers = sorted(pool.map(add, paths))
        assert numbers == list(range(1, 9))
        versions = platform.models.get(caller, "raced").versions
        assert sorted(versions) == list(range(1, 9))
    finally:
        platform.close()
