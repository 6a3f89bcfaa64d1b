"""Serving benchmark: the platform's KServe routes against a thin reference and KServe itself.

    .venv/bin/python benchmarks/serving.py [--seconds 3] [--rounds 3]
        [--peers-python .venv-peers/bin/python]

Starts, in one run: the platform (model in a worker process, auth and catalog on every
request); a bare FastAPI+uvicorn server calling `model.predict` in process (the thin
reference); and, when a KServe virtual environment exists (`make bench-peers`), KServe's
Python `ModelServer`. Every server runs pinned to CPU 0 (the platform with its model
workers), the closed-loop client to CPU 1. Models: logistic regression on Iris (4
features) and a 100-tree gradient-boosted classifier on 28 features. Each case runs
`--rounds` times, the servers taking turns, and reports medians. Prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SERVERS = HERE / "serving_servers.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def train(folder: Path) -> dict[str, tuple[Path, np.ndarray]]:
    """The two models as skops files, with rows to send them."""
    import skops.io
    from sklearn.datasets import load_iris, make_classification
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    x_iris, y_iris = load_iris(return_X_y=True)
    x_gbt, y_gbt = make_classification(n_samples=4000, n_features=28, random_state=0)
    models = {
        "iris": (LogisticRegression(max_iter=1000).fit(x_iris, y_iris), x_iris),
        "gbt": (GradientBoostingClassifier(n_estimators=100).fit(x_gbt, y_gbt), x_gbt),
    }
    out = {}
    for name, (model, x) in models.items():
        path = folder / f"{name}.skops"
        skops.io.dump(model, path)
        out[name] = (path, x)
    return out


def publish(home: Path, models: dict[str, tuple[Path, np.ndarray]]) -> str:
    """Create a user, a token and the catalog entries; return the token."""
    from aiplayground.app import build_platform
    from aiplayground.auth.principal import Role
    from aiplayground.catalog.files import IncomingFile
    from aiplayground.catalog.schemas import ModelCreate, ModelUpdate, Signature, VersionMetadata
    from aiplayground.settings import Settings

    platform = build_platform(Settings(home=home, demo=False))
    with contextlib.redirect_stdout(sys.stderr):  # stdout is for the JSON result
        platform.start()
    user = platform.auth.ensure_user("bench", Role.MEMBER)
    token = platform.auth.create_token(user.id, "bench").token
    caller = platform.auth.authenticate_token(token)
    admin = platform.auth.ensure_user("bench-admin", Role.ADMIN)
    admin_caller = platform.auth.authenticate_token(platform.auth.create_token(admin.id, "b").token)
    for name, (path, x) in models.items():
        platform.models.create(caller, ModelCreate(name=name, format="sklearn"))  # type: ignore[arg-type]
        # The catalog asks for an admin's trust for tree models (skops does not trust
        # sklearn.tree._tree.Tree by default).
        platform.models.update(admin_caller, name, ModelUpdate(trusted=True))
        sig = Signature.model_validate(
            {"inputs": [{"name": "input-0", "datatype": "FP64", "shape": [-1, x.shape[1]]}]}
        )
        platform.models.add_version(
            caller, name, [IncomingFile(path.name, path)], VersionMetadata(signature=sig)
        )
    platform.close()
    return token


def start(args: list[str], python: str, port: int) -> subprocess.Popen[bytes]:
    """A server process pinned to CPU 0, once it accepts connections."""
    proc = subprocess.Popen(
        [python, str(SERVERS), *args, "--port", str(port)],
        cwd=ROOT,
        preexec_fn=lambda: os.sched_setaffinity(0, {0}),
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{args[0]} server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"{args[0]} server did not start")


def http_request(port: int, path: str, body: bytes, token: str | None) -> bytes:
    """One raw HTTP/1.1 keep-alive request, built once and sent many times."""
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
    ]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _connection(
    port: int, request: bytes, stop: float, warm: float, latencies: list[float], errors: list[int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while True:
            began = time.perf_counter()
            if began >= stop:
                return
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            if began >= warm:
                latencies.append(time.perf_counter() - began)
                if status != 200:
                    errors.append(status)
    finally:
        writer.close()


async def load(port: int, request: bytes, concurrency: int, seconds: float) -> dict[str, Any]:
    """A closed loop: `concurrency` connections, each sending its next request on an answer."""
    latencies: list[float] = []
    errors: list[int] = []
    warm = time.perf_counter() + min(1.0, seconds / 4)
    stop = warm + seconds
    await asyncio.gather(
        *(_connection(port, request, stop, warm, latencies, errors) for _ in range(concurrency))
    )
    lat = np.asarray(latencies) * 1000
    return {
        "requests_per_s": round(len(latencies) / seconds, 1),
        "p50_ms": round(float(np.percentile(lat, 50)), 3) if len(lat) else None,
        "p99_ms": round(float(np.percentile(lat, 99)), 3) if len(lat) else None,
        "errors": len(errors),
    }


def body(protocol: str, x: np.ndarray) -> bytes:
    """A v2 or v1 request body for these rows."""
    if protocol == "v1":
        return json.dumps({"instances": x.tolist()}).encode()
    tensor = {
        "name": "input-0",
        "datatype": "FP64",
        "shape": list(x.shape),
        "data": x.ravel().tolist(),
    }
    return json.dumps({"inputs": [tensor]}).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--peers-python", default=str(ROOT / ".venv-peers" / "bin" / "python"))
    parser.add_argument("--models", default="iris,gbt")
    parser.add_argument("--concurrency", default="1,16")
    parser.add_argument("--batch", default="1,100")
    parser.add_argument("--servers", default="platform,thin,kserve")
    args = parser.parse_args()
    os.sched_setaffinity(0, {1})
    wanted = args.servers.split(",")
    if "kserve" in wanted and not Path(args.peers_python).exists():
        print(f"no KServe environment at {args.peers_python} (make bench-peers)", file=sys.stderr)
        wanted.remove("kserve")
    tmp = Path(tempfile.mkdtemp(prefix="aip-bench-"))
    models = {k: v for k, v in train(tmp).items() if k in args.models.split(",")}
    token = publish(tmp / "home", models)
    procs: dict[str, list[tuple[str, int, subprocess.Popen[bytes]]]] = {name: [] for name in models}
    try:
        ports = {}
        if "platform" in wanted:
            ports["platform"] = free_port()
            procs["_"] = [
                (
                    "platform",
                    ports["platform"],
                    start(
                        ["platform", "--home", str(tmp / "home")], sys.executable, ports["platform"]
                    ),
                )
            ]
        for name, (path, _) in models.items():
            for server, python in (("thin", sys.executable), ("kserve", args.peers_python)):
                if server in wanted:
                    port = free_port()
                    extra = ["--name", name] if server == "kserve" else []
                    procs[name].append(
                        (server, port, start([server, "--model", str(path), *extra], python, port))
                    )
        results = []
        for name, (_, x) in models.items():
            targets = []
            if "platform" in wanted:
                targets.append(("platform", ports["platform"], token))
            targets += [(server, port, None) for server, port, _ in procs[name]]
            for batch in map(int, args.batch.split(",")):
                rows = x[:batch]
                for concurrency in map(int, args.concurrency.split(",")):
                    case: dict[str, Any] = {
                        "model": name,
                        "batch": batch,
                        "concurrency": concurrency,
                    }
                    runs: dict[str, list[dict[str, Any]]] = {}
                    # Rounds alternate the servers, so that a machine whose speed drifts
                    # (a shared VM) slows each of them alike; medians are reported.
                    for _ in range(args.rounds):
                        for server, port, tok in targets:
                            for protocol in ("v2", "v1"):
                                path = (
                                    f"/v2/models/{name}/infer"
                                    if protocol == "v2"
                                    else f"/v1/models/{name}:predict"
                                )
                                request = http_request(port, path, body(protocol, rows), tok)
                                asyncio.run(load(port, request, 1, 0.5))  # load, warm up
                                runs.setdefault(f"{server}_{protocol}", []).append(
                                    asyncio.run(load(port, request, concurrency, args.seconds))
                                )
                    case.update({key: _median(found) for key, found in runs.items()})
                    _ratios(case)
                    results.append(case)
                    print(json.dumps(case), file=sys.stderr)
        print(
            json.dumps(
                {
                    "cpu": os.cpu_count(),
                    "seconds": args.seconds,
                    "rounds": args.rounds,
                    "results": results,
                },
                indent=2,
            )
        )
    finally:
        for entries in procs.values():
            for _, _, proc in entries:
                proc.terminate()
                proc.wait(30)


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median requests/s and latencies over the rounds, with each round's requests/s."""
    result: dict[str, Any] = {}
    for key in ("requests_per_s", "p50_ms", "p99_ms"):
        values = [r[key] for r in runs if r[key] is not None]
        result[key] = round(float(np.median(values)), 3) if values else None
    result["errors"] = sum(r["errors"] for r in runs)
    result["rounds_requests_per_s"] = [r["requests_per_s"] for r in runs]
    return result


def _ratios(case: dict[str, Any]) -> None:
    for protocol in ("v2", "v1"):
        mine = case.get(f"platform_{protocol}")
        for peer in ("thin", "kserve"):
            other = case.get(f"{peer}_{protocol}")
            if mine and other and other["requests_per_s"]:
                case[f"{protocol}_platform_over_{peer}"] = round(
                    mine["requests_per_s"] / other["requests_per_s"], 3
                )
                if mine["p99_ms"] and other["p99_ms"]:
                    case[f"{protocol}_p99_platform_over_{peer}"] = round(
                        mine["p99_ms"] / other["p99_ms"], 3
                    )


if __name__ == "__main__":
    main()
