"""One contract for every `VectorIndex`: Chroma embedded, and Chroma as a server."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from aiplayground.rag.index import ChromaIndex, VectorIndex, collection_name, open_vector_index


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A `chroma run` server on a free loopback port, for the session."""
    binary = Path(sys.executable).parent / "chroma"
    if not binary.exists():
        found = shutil.which("chroma")
        if found is None:
            pytest.skip("the chroma command is not installed")
        binary = Path(found)
    port = _free_port()
    folder = tmp_path_factory.mktemp("chroma-server")
    process = subprocess.Popen(
        [str(binary), "run", "--host", "127.0.0.1", "--port", str(port), "--path", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail("the chroma server did not start")
        time.sleep(0.2)
    yield url
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(params=["embedded", "server"])
def index(request: pytest.FixtureRequest, tmp_path: Path) -> VectorIndex:
    """Each implementation of the interface."""
    if request.param == "embedded":
        return open_vector_index(None, tmp_path)
    url: str = request.getfixturevalue("chroma_server")
    return open_vector_index(url, tmp_path)


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def test_add_query_filter_delete_drop(index: VectorIndex) -> None:
    rng = np.random.default_rng(7)
    vectors = unit(rng.normal(size=(6, 16)))
    name = collection_name(f"t{rng.integers(10**9)}", 1)
    ids = [f"c{i}" for i in range(6)]
    docs = ["d1", "d1", "d1", "d2", "d2", "d3"]
    index.add(name, ids, vectors, [{"document_id": d, "page": None} for d in docs])
    assert index.count(name) == 6

    hits = index.query(name, vectors[4], 3, with_vectors=True)
    assert hits[0].id == "c4"
    assert hits[0].score == pytest.approx(1.0, abs=1e-4)
    assert hits[0].metadata["document_id"] == "d2"
    assert hits[0].vector is not None
    assert np.allclose(hits[0].vector, vectors[4], atol=1e-5)

    only = index.query(name, vectors[4], 6, documents=["d1", "d3"])
    assert {h.id for h in only} == {"c0", "c1", "c2", "c5"}
    assert index.query(name, vectors[4], 6, documents=[]) == []

    found = index.vectors(name, ["c5", "c0", "missing"])
    assert set(found) == {"c0", "c5"}
    assert np.allclose(found["c5"], vectors[5], atol=1e-5)

    index.delete_document(name, "d1")
    assert index.count(name) == 3
    assert {h.id for h in index.query(name, vectors[0], 6)} == {"c3", "c4", "c5"}

    index.drop(name)
    index.drop(name)
    assert index.count(name) == 0
    assert index.query(name, vectors[0], 3) == []
    index.check()


def test_server_url_must_be_http(tmp_path: Path) -> None:
    from aiplayground.errors import InvalidInput

    with pytest.raises(InvalidInput):
        ChromaIndex(url="file:///etc").count("x")
