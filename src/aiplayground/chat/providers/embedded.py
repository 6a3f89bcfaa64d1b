"""Embedded provider: a GGUF model run by llama.cpp in a worker process of this server."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from aiplayground.chat.providers.process import WorkerProcess, WorkerProvider
from aiplayground.settings import ChatSettings

KIND = "embedded"
SUPPORTED = frozenset(
    {
        "max_new_tokens",
        "temperature",
        "top_k",
        "top_p",
        "do_sample",
        "repetition_penalty",
        "presence_penalty",
        "frequency_penalty",
        "stop",
        "seed",
    }
)
ENGINE = "aiplayground.chat.providers.llama_engine:load"


def worker_threads(settings: ChatSettings) -> int:
    """Threads for one worker: the setting, else the cores (at most 8)."""
    return settings.threads or min(os.cpu_count() or 1, 8)


def open_embedded(
    name: str, path: Path, settings: ChatSettings, serving: dict[str, Any]
) -> WorkerProvider:
    """A provider for one GGUF file; the worker starts at the first request."""
    threads = worker_threads(settings)
    spec = {
        "path": str(path),
        "context_tokens": int(serving.get("context_window") or settings.context_tokens),
        "threads": threads,
        "max_new_tokens": settings.default_max_new_tokens,
    }
    worker = WorkerProcess(
        ENGINE,
        spec,
        name=name,
        threads=threads,
        load_timeout_s=settings.load_timeout_s,
        max_queue=settings.max_queue_per_model,
    )
    return WorkerProvider(KIND, SUPPORTED, worker)
