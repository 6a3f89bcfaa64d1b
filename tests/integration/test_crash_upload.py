"""A server killed mid-upload leaves nothing half-written behind, and starts healthy again."""

from __future__ import annotations

import contextlib
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.servers import running_server

CHUNK = b"\0" * (256 * 1024)


def published_keys(home: Path) -> list[str]:
    root = home / "artifacts"
    return [
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and not p.relative_to(root).parts[0].startswith(".")
    ]


def test_sigkill_during_upload_leaves_no_partial_object(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with running_server(home, "--no-demo", extra_env={"AIP_SERVER__UI": "false"}) as server:
        token = server.create_token("alice")
        headers = {"Authorization": f"Bearer {token}"}
        created = httpx.post(
            f"{server.base_url}/api/v1/models",
            json={"name": "big", "format": "gguf"},
            headers=headers,
        )
        assert created.status_code == 201

        sent = threading.Event()

        def body() -> Iterator[bytes]:
            yield (
                b'--B\r\nContent-Disposition: form-data; name="file"; filename="m.gguf"\r\n'
                b"Content-Type: application/octet-stream\r\n\r\nGGUF"
            )
            for i in range(400):  # 100 MB, slowly: the server dies long before the end
                yield CHUNK
                if i == 20:
                    sent.set()
                time.sleep(0.01)

        def upload() -> None:
            # The server is killed under this request: a transport error is the point.
            with contextlib.suppress(httpx.TransportError):
                httpx.post(
                    f"{server.base_url}/api/v1/models/big/versions",
                    content=body(),
                    headers={**headers, "Content-Type": "multipart/form-data; boundary=B"},
                    timeout=30,
                )

        thread = threading.Thread(target=upload)
        thread.start()
        assert sent.wait(20), "the upload never got going"
        server.stop(signal.SIGKILL)
        thread.join(30)

    staged = [p.stat().st_size for p in (home / "staging").rglob("part-*")]
    assert staged, "no upload was in flight when the server was killed"
    assert max(staged) > len(CHUNK)
    assert published_keys(home) == []
    with sqlite3.connect(home / "aiplayground.db") as db:
        assert db.execute("SELECT count(*) FROM model_versions").fetchone() == (0,)

    with running_server(home, "--no-demo", extra_env={"AIP_SERVER__UI": "false"}) as again:
        assert httpx.get(f"{again.base_url}/readyz").status_code == 200
        token = again.create_token("alice")
        model = httpx.get(
            f"{again.base_url}/api/v1/models/big", headers={"Authorization": f"Bearer {token}"}
        ).json()
        assert model["versions"] == []
