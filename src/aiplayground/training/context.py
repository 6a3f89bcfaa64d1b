"""What a running recipe sees: its folder, its data, and a way to report progress.

A job process holds no platform credential. It reports through files in its own folder
(`metrics.jsonl`, `result.json`, `error.json`) and its output (`job.log`), which the
worker that started it reads and records.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

SPEC_FILE = "job.json"
LOG_FILE = "job.log"
METRICS_FILE = "metrics.jsonl"
RESULT_FILE = "result.json"
ERROR_FILE = "error.json"
DATA_DIR = "data"
OUTPUT_DIR = "output"
CHECKPOINT_DIR = "checkpoints"


class DatasetSpec(BaseModel):
    """The dataset version a job trains on, as files in the job's `data/` folder."""

    name: str
    version: int
    format: str
    files: list[str] = Field(default_factory=list)


class JobSpec(BaseModel):
    """What the worker tells the job process (`job.json`); no secrets, ever."""

    job_id: str
    recipe: str
    recipe_module: str
    params: dict[str, Any]
    dataset: DatasetSpec | None = None
    attempt: int = 1
    threads: int = 1
    gpus: int = 0


def confined(root: Path, relative: str) -> Path:
    """`root/relative`, refusing anything that resolves outside `root`."""
    base = root.resolve()
    target = (base / relative).resolve()
    if not target.is_relative_to(base):
        raise ValueError(f"path {relative!r} leaves the job folder")
    return target


class JobContext:
    """The job's folder, data, checkpoints and reporting, for one process (rank)."""

    def __init__(self, root: Path, spec: JobSpec) -> None:
        self.root = root.resolve()
        self.spec = spec
        self.rank = int(os.environ.get("RANK", "0"))
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.output_dir = self.root / OUTPUT_DIR
        self.checkpoint_dir = self.root / CHECKPOINT_DIR
        for folder in (self.output_dir, self.checkpoint_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self._started = time.monotonic()

    @property
    def is_main(self) -> bool:
        """True in the process that reports and writes results (rank 0)."""
        return self.rank == 0

    @property
    def threads(self) -> int:
        """CPU threads this process may use."""
        return max(1, self.spec.threads)

    def path(self, relative: str) -> Path:
        """A path inside the job's folder."""
        return confined(self.root, relative)

    def data_files(self) -> list[Path]:
        """The dataset's files, materialized in the job's `data/` folder."""
        if self.spec.dataset is None:
            return []
        return [confined(self.root / DATA_DIR, f) for f in self.spec.dataset.files]

    def log(self, message: str) -> None:
        """A line in the job's log (main process only, to keep logs readable)."""
        if self.is_main:
            print(message, flush=True)

    def metric(self, step: int, **values: float) -> None:
        """Record metric values at a step (loss, accuracy, ...)."""
        clean = {k: float(v) for k, v in values.items() if v == v}  # NaN is not a value
        self._event({"type": "metric", "step": int(step), "values": clean})

    def progress(self, fraction: float) -> None:
        """Record how far the job is, from 0 to 1."""
        self._event({"type": "progress", "value": min(1.0, max(0.0, float(fraction)))})

    def _event(self, event: dict[str, Any]) -> None:
        if not self.is_main:
            return
        event["time"] = time.time()
        # One short line per write: the worker reads whole lines only, so a line is
        # never seen half-written.
        with (self.root / METRICS_FILE).open("a", encoding="utf-8") as f:
            f.write(json.dumps(event) + "\n")
