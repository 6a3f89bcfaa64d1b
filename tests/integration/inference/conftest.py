"""A live server on a free port (real HTTP, for third-party clients) and models trained here."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import uvicorn
from fastapi import FastAPI

from aiplayground.app import Platform, build_platform, create_app
from aiplayground.auth.principal import Role
from aiplayground.inference.config import InferenceSettings
from aiplayground.inference.service import InferenceService
from aiplayground.settings import Settings


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def attach_inference(platform: Platform, app: FastAPI) -> InferenceService:
    """The platform's inference service and routes (until the composition root has them)."""
    service = getattr(platform, "inference", None)
    if service is None:
        settings = getattr(platform.settings, "inference", None) or InferenceSettings()
        service = InferenceService(
            platform.models,
            platform.storage,
            settings,
            cache_dir=platform.settings.resolved_home / "cache" / "models",
            endpoints=platform.endpoints,
            remote_timeout_s=platform.settings.network.timeout_s,
        )
        platform.inference = service  # type: ignore[attr-defined]
    from aiplayground.api.routes import inference

    if not any(getattr(r, "original_router", None) is inference.router for r in app.routes):
        app.include_router(inference.router)
        # First, as the composition root includes it: the hottest routes match soonest.
        app.router.routes.insert(0, app.router.routes.pop())
    return service


@dataclass
class Live:
    """A running server and the credentials to call it."""

    url: str
    platform: Platform
    service: InferenceService
    token: str = ""
    admin_token: str = ""
    models: dict[str, Any] = field(default_factory=dict)

    @property
    def host(self) -> str:
        """host:port, as tritonclient wants it."""
        return self.url.removeprefix("http://")

    def headers(self, token: str | None = None) -> dict[str, str]:
        """A bearer header (alice's token by default)."""
        return {"Authorization": f"Bearer {token or self.token}"}

    def http(self) -> httpx.Client:
        """An httpx client with alice's token."""
        return httpx.Client(base_url=self.url, headers=self.headers(), timeout=60)


@dataclass
class LiveServer:
    """uvicorn in a thread; the inference service stops on the server's own loop."""

    app: FastAPI
    service: InferenceService
    port: int
    server: uvicorn.Server | None = None
    thread: threading.Thread | None = None

    def start(self) -> None:
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_config=None,
            access_log=False,
            loop="asyncio",
            lifespan="on",
        )
        self.server = uvicorn.Server(config)

        async def run() -> None:
            assert self.server is not None
            await self.service.start()
            try:
                await self.server.serve()
            finally:
                await self.service.stop()

        self.thread = threading.Thread(target=lambda: asyncio.run(run()), daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(30)


@pytest.fixture(scope="package")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """One platform served over real HTTP for the whole inference test package."""
    home = tmp_path_factory.mktemp("inference") / "home"
    settings = Settings(
        home=home,
        demo=False,
        server={"ui": False},  # type: ignore[arg-type]
        network={"allowed_hosts": ["127.0.0.1"], "timeout_s": 3.0},  # type: ignore[arg-type]
    )
    platform = build_platform(settings)
    app = create_app(settings, platform)
    service = attach_inference(platform, app)
    server = LiveServer(app, service, free_port())
    server.start()
    try:
        alice = platform.auth.ensure_user("alice", Role.MEMBER)
        admin = platform.auth.ensure_user("admin", Role.ADMIN)
        yield Live(
            url=f"http://127.0.0.1:{server.port}",
            platform=platform,
            service=service,
            token=platform.auth.create_token(alice.id, "test").token,
            admin_token=platform.auth.create_token(admin.id, "test").token,
        )
    finally:
        server.stop()
        platform.close()


def publish(
    live: Live,
    name: str,
    fmt: str,
    files: list[tuple[str, bytes]],
    metadata: dict[str, Any] | None = None,
    *,
    trusted: bool = False,
    serving: dict[str, Any] | None = None,
) -> None:
    """Create a model and upload one version of it, as a user would."""
    with live.http() as http:
        body = {"name": name, "format": fmt, "objective": "classification"}
        created = http.post("/api/v1/models", json=body)
        assert created.status_code == 201, created.text
        patch: dict[str, Any] = {}
        if serving:
            patch["serving"] = serving
        if trusted:
            admin = live.headers(live.admin_token)
            r = http.patch(f"/api/v1/models/{name}", json={"trusted": True}, headers=admin)
            assert r.status_code == 200, r.text
        if patch:
            r = http.patch(f"/api/v1/models/{name}", json=patch)
            assert r.status_code == 200, r.text
        parts = [("file", (n, io.BytesIO(data), "application/octet-stream")) for n, data in files]
        data = {"metadata": json.dumps(metadata or {})}
        uploaded = http.post(f"/api/v1/models/{name}/versions", files=parts, data=data)
        assert uploaded.status_code == 201, uploaded.text


def signature(features: int, datatype: str = "FP64") -> dict[str, Any]:
    """A one-input classifier signature: rows x features in, one label per row out."""
    return {
        "inputs": [{"name": "input-0", "datatype": datatype, "shape": [-1, features]}],
        "outputs": [{"name": "output-0", "datatype": "INT64", "shape": [-1]}],
    }


@pytest.fixture(scope="package")
def iris() -> tuple[np.ndarray, np.ndarray]:
    """Iris features and labels (scikit-learn's bundled copy)."""
    from sklearn.datasets import load_iris

    x, y = load_iris(return_X_y=True)
    return x, y


def write_temp(tmp: Path, name: str, data: bytes) -> Path:
    """A file with these bytes."""
    path = tmp / name
    path.write_bytes(data)
    return path
