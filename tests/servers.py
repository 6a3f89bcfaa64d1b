"""Real `aiplayground serve` processes for tests that need a server of their own."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

START_TIMEOUT_S = 60


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class ServerProcess:
    """A running server, what it printed, and the environment it runs with."""

    proc: subprocess.Popen[str]
    base_url: str
    env: dict[str, str]
    output: list[str] = field(default_factory=list)
    lines: queue.Queue[str | None] = field(default_factory=queue.Queue)
    login_url: str = ""

    def cli(self, *args: str) -> str:
        """Run an `aiplayground` command against this server's data folder; its stdout."""
        done = subprocess.run(
            [sys.executable, "-m", "aiplayground", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout

    def new_login_link(self, user: str = "admin") -> str:
        """A fresh one-time login link, made the way an operator makes one."""
        return self.cli("admin", "login-link", "--user", user).strip().splitlines()[-1]

    def create_token(self, user: str, role: str = "member") -> str:
        """A fresh API token, made the way a script makes one."""
        out = self.cli("admin", "create-token", "--user", user, "--create-user", "--role", role)
        return out.strip().splitlines()[-1]

    def wait_for_line(self, needle: str) -> str:
        """The first printed line containing `needle` (fails after the start timeout)."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                pytest.fail(f"the server exited before printing {needle!r}:\n{self.printed}")
            self.output.append(line)
            if needle in line:
                return line.strip()
        pytest.fail(
            f"no {needle!r} within {START_TIMEOUT_S} s; the server printed:\n{self.printed}"
        )

    def wait_until_healthy(self) -> None:
        """Block until /healthz answers."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"the server exited with {self.proc.returncode}:\n{self.printed}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        pytest.fail(f"/healthz never answered; the server printed:\n{self.printed}")

    @property
    def printed(self) -> str:
        """Everything read from the server's output so far."""
        return "".join(self.output)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> None:
        """Stop the server with a signal (SIGKILL after the timeout)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _pump(stream: Any, lines: queue.Queue[str | None]) -> None:
    # Keep reading after start-up too: a full pipe would block the server's prints.
    for line in stream:
        lines.put(line)
    lines.put(None)


def start_server(home: Path, *args: str, extra_env: dict[str, str] | None = None) -> ServerProcess:
    """Start `python -m aiplayground serve` on a free port with its data in `home`."""
    port = free_port()
    env = {
        **os.environ,
        "AIP_HOME": str(home),
        "AIP_LOG_JSON": "false",
        "PYTHONUNBUFFERED": "1",
        # Admin commands build links from the settings, so they must know the port too.
        "AIP_SERVER__PORT": str(port),
        **(extra_env or {}),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "aiplayground", "serve", "--port", str(port), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    server = ServerProcess(proc=proc, base_url=f"http://127.0.0.1:{port}", env=env)
    threading.Thread(target=_pump, args=(proc.stdout, server.lines), daemon=True).start()
    return server


@contextmanager
def running_server(home: Path, *args: str, **kwargs: Any) -> Iterator[ServerProcess]:
    """A healthy server for the duration of the block."""
    server = start_server(home, *args, **kwargs)
    try:
        server.wait_until_healthy()
        yield server
    finally:
        server.stop()
