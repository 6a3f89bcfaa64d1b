"""Upload benchmark: a large model file streamed through the REST API in constant memory.

Starts a real server, uploads a file of --mb megabytes as a new model version, and
records the server's peak resident memory (VmHWM) before and after, together with the
throughput. The baseline in the same run is the server's own peak after start-up: a
streamed upload must leave it almost unchanged, whatever the file size.

    .venv/bin/python benchmarks/upload.py --mb 200
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

CHUNK = 1024 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set size so far (Linux VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("VmHWM not found")


def wait_healthy(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the server exited during start-up")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the server did not become healthy")


def body(boundary: str, size: int) -> Iterator[bytes]:
    """A multipart body with one GGUF-looking file part of `size` bytes, generated lazily."""
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="big.gguf"\r\nContent-Type: application/octet-stream\r\n\r\n'
    ).encode()
    yield b"GGUF"
    sent = 4
    block = os.urandom(CHUNK)
    while sent < size:
        n = min(CHUNK, size - sent)
        yield block[:n]
        sent += n
    yield f"\r\n--{boundary}--\r\n".encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200, help="File size in MiB.")
    args = parser.parse_args()
    size = args.mb * CHUNK
    with tempfile.TemporaryDirectory() as home:
        port = free_port()
        env = {
            **os.environ,
            "AIP_HOME": home,
            "AIP_SERVER__UI": "false",
            "AIP_SERVER__PORT": str(port),
            "AIP_LOG_JSON": "false",
        }
        command = [sys.executable, "-m", "aiplayground", "serve", "--port", str(port)]
        proc = subprocess.Popen([*command, "--no-demo"], env=env, stdout=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(url, proc)
            create_token = ["admin", "create-token", "--user", "bench", "--create-user"]
            token = subprocess.run(
                [sys.executable, "-m", "aiplayground", *create_token],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()[-1]
            headers = {"Authorization": f"Bearer {token}"}
            httpx.post(
                f"{url}/api/v1/models", json={"name": "big", "format": "gguf"}, headers=headers
            ).raise_for_status()
            before = peak_rss_mb(proc.pid)
            start = time.perf_counter()
            response = httpx.post(
                f"{url}/api/v1/models/big/versions",
                content=body("bench-boundary", size),
                headers={**headers, "Content-Type": "multipart/form-data; boundary=bench-boundary"},
                timeout=600,
            )
            seconds = time.perf_counter() - start
            response.raise_for_status()
            after = peak_rss_mb(proc.pid)
            stored = response.json()["files"][0]["size"]
        finally:
            proc.terminate()
            proc.wait(30)
    print(
        json.dumps(
            {
                "file_mb": args.mb,
                "stored_bytes": stored,
                "seconds": round(seconds, 2),
                "mb_per_s": round(args.mb / seconds, 1),
                "server_peak_rss_mb_before": round(before, 1),
                "server_peak_rss_mb_after": round(after, 1),
                "peak_rss_growth_mb": round(after - before, 1),
                "growth_over_file_size": round((after - before) / args.mb, 4),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
