"""One artifact store per backend, so every contract test runs against each of them."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import s3fs
from moto.server import ThreadedMotoServer
from pydantic import SecretStr

from aiplayground.settings import StorageSettings
from aiplayground.storage import ArtifactStore, FileArtifactStore
from aiplayground.storage.s3 import S3ArtifactStore


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """An in-process S3 server (moto) on a free port of 127.0.0.1."""
    werkzeug = logging.getLogger("werkzeug")
    level = werkzeug.level
    werkzeug.setLevel(logging.ERROR)  # otherwise every request is logged
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
    werkzeug.setLevel(level)


@pytest.fixture(scope="session")
def s3_settings(moto_endpoint: str) -> StorageSettings:
    """Storage settings pointing at the moto server."""
    return StorageSettings(
        s3_endpoint_url=moto_endpoint,
        s3_access_key_id="testing",
        s3_secret_access_key=SecretStr("testing"),
        s3_region="us-east-1",
    )


@pytest.fixture(scope="session")
def s3_client(s3_settings: StorageSettings) -> Any:
    """A raw s3fs client on the moto server, for setting up what the store cannot."""
    assert s3_settings.s3_secret_access_key is not None
    return s3fs.S3FileSystem(
        endpoint_url=s3_settings.s3_endpoint_url,
        key=s3_settings.s3_access_key_id,
        secret=s3_settings.s3_secret_access_key.get_secret_value(),
        client_kwargs={"region_name": s3_settings.s3_region},
        skip_instance_cache=True,
    )


@pytest.fixture
def s3_bucket(s3_client: Any) -> str:
    """A fresh, empty bucket for one test."""
    name = f"test-{uuid.uuid4().hex[:16]}"
    s3_client.call_s3("create_bucket", Bucket=name)
    return name


@pytest.fixture
def file_store(tmp_path: Path) -> FileArtifactStore:
    """A file store in a fresh folder."""
    return FileArtifactStore(tmp_path / "artifacts")


@pytest.fixture
def s3_store(s3_bucket: str, s3_settings: StorageSettings) -> S3ArtifactStore:
    """An S3 store under a prefix of a fresh bucket."""
    return S3ArtifactStore(s3_bucket, "artifacts", settings=s3_settings)


@pytest.fixture(params=["file", "s3"])
def store(request: pytest.FixtureRequest) -> ArtifactStore:
    """Each backend in turn; the S3 server only starts when an S3 case runs."""
    store: ArtifactStore = request.getfixturevalue(f"{request.param}_store")
    return store
