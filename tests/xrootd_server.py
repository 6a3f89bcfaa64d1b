"""Remote file servers on loopback for tests: XRootD (Debian's `xrootd-server`) and HTTP with Range.

`xrootd_server()` starts the real `xrootd` binary on a free port with a temporary config that
exports a temporary folder read-only. Without the binary the tests skip, unless
AIP_TEST_REQUIRE_XROOTD is set (CI sets it), where they fail instead.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

START_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class FileServer:
    """A running server: its base URL (append a file name) and the folder it serves."""

    base_url: str
    folder: Path
    port: int

    def url(self, name: str) -> str:
        """The URL of one served file."""
        return f"{self.base_url}{name}"

    def add(self, source: Path, name: str | None = None) -> str:
        """Copy a file into the served folder (readable by the server) and return its URL."""
        target = self.folder / (name or source.name)
        shutil.copyfile(source, target)
        target.chmod(0o644)
        return self.url(target.name)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"xrootd exited with {process.returncode}:\n{_tail(log)}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"xrootd did not listen on port {port}:\n{_tail(log)}")


def _tail(log: Path) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-20:])
    except FileNotFoundError:
        return "(no log)"


@contextmanager
def xrootd_server() -> Iterator[FileServer]:
    """A real `xrootd` serving a fresh temporary folder read-only on 127.0.0.1."""
    binary = shutil.which("xrootd")
    if binary is None:
        reason = "the xrootd binary is not installed (Debian package xrootd-server)"
        if os.environ.get("AIP_TEST_REQUIRE_XROOTD"):
            pytest.fail(f"{reason}, and AIP_TEST_REQUIRE_XROOTD is set")
        pytest.skip(reason)
    # Not under pytest's tmp_path: that is private to this user, and xrootd refuses to run
    # as root, so under root it drops to `nobody`, which must read the exported folder.
    top = Path(tempfile.mkdtemp(prefix="aip-xrootd-"))
    top.chmod(0o755)
    data, admin = top / "data", top / "admin"
    data.mkdir(mode=0o755)
    admin.mkdir(mode=0o755)
    data.chmod(0o755)
    config = top / "xrootd.cfg"
    config.write_text(
        f"all.export / r/o\noss.localroot {data}\nall.adminpath {admin}\nall.pidpath {admin}\n"
        # Only this machine may connect (xrootd has no bind address: it listens on all).
        "xrd.allow host localhost\n"
    )
    command = [binary, "-c", str(config), "-l", str(admin / "xrootd.log"), "-n", "aiptest"]
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        os.chown(admin, nobody.pw_uid, nobody.pw_gid)
        command += ["-R", "nobody"]
    process: subprocess.Popen[bytes] | None = None
    try:
        for _ in range(3):  # a free port can be taken between the probe and the bind
            port = _free_port()
            process = subprocess.Popen(
                [*command, "-p", str(port)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                cwd=top,
            )
            try:
                _wait_listening(port, process, admin / "aiptest" / "xrootd.log")
                break
            except RuntimeError:
                process.terminate()
                process.wait(10)
                process = None
        if process is None:
            raise RuntimeError(f"xrootd did not start:\n{_tail(admin / 'aiptest' / 'xrootd.log')}")
        yield FileServer(f"root://127.0.0.1:{port}//", data, port)
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        shutil.rmtree(top, ignore_errors=True)


class _RangeHandler(BaseHTTPRequestHandler):
    """GET and HEAD of files in one folder, with single `Range: bytes=a-b` requests."""

    folder: Path
    protocol_version = "HTTP/1.1"

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def do_GET(self) -> None:
        self._serve(body=True)

    def _serve(self, body: bool) -> None:
        path = self.folder / self.path.lstrip("/").split("?", 1)[0]
        if "/" in self.path.lstrip("/") or not path.is_file():
            self._reply(404, b"not found")
            return
        data = path.read_bytes()
        start, stop, status = 0, len(data), 200
        spec = self.headers.get("Range", "")
        if spec.startswith("bytes="):
            first, _, last = spec[len("bytes=") :].partition("-")
            start = int(first) if first else max(0, len(data) - int(last))
            stop = min(len(data), int(last) + 1) if first and last else len(data)
            if start >= len(data):
                self._reply(416, b"", {"Content-Range": f"bytes */{len(data)}"})
                return
            status = 206
        headers = {"Content-Type": "application/octet-stream", "Accept-Ranges": "bytes"}
        if status == 206:
            headers["Content-Range"] = f"bytes {start}-{stop - 1}/{len(data)}"
        self._reply(status, data[start:stop], headers, body)

    def _reply(
        self, status: int, data: bytes, headers: dict[str, str] | None = None, body: bool = True
    ) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: pytest shows failures, not every request


@contextmanager
def range_http_server() -> Iterator[FileServer]:
    """A threaded HTTP server on 127.0.0.1 serving a temporary folder, with Range support."""
    folder = Path(tempfile.mkdtemp(prefix="aip-http-"))
    handler = type("Handler", (_RangeHandler,), {"folder": folder})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = int(server.server_address[1])
        yield FileServer(f"http://127.0.0.1:{port}/", folder, port)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
        shutil.rmtree(folder, ignore_errors=True)
