"""Model worker processes: a crash or a bad file fails only its model; bounded, reaped, isolated."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skops.io
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from aiplayground.errors import MissingDependency, PlaygroundError, Unavailable
from aiplayground.inference.config import InferenceSettings
from aiplayground.inference.pool import WorkerPool
from aiplayground.inference.runtimes import LoadSpec
from aiplayground.inference.tensor import Tensor


def crafted_skops(function: str, argument: object) -> bytes:
    """A skops file whose loading calls `module.function(argument)`: code only trust may run."""
    module, name = function.rsplit(".", 1)
    leaf = {
        "__class__": type(argument).__name__,
        "__module__": "builtins",
        "__loader__": "JsonNode",
        "content": json.dumps(argument),
        "is_json": True,
        "__id__": 2,
    }
    schema = {
        "__class__": name,
        "__module__": module,
        "__loader__": "ConstructorFromReduceNode",
        "content": {
            "__class__": "tuple",
            "__module__": "builtins",
            "__loader__": "TupleNode",
            "content": [leaf],
            "__id__": 1,
        },
        "__id__": 0,
        "protocol": 2,
        "_skops_version": "0.16.0",
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("schema.json", json.dumps(schema))
    return out.getvalue()


def folder(tmp: Path, name: str, files: dict[str, bytes]) -> Path:
    path = tmp / name
    path.mkdir()
    for rel, data in files.items():
        (path / rel).write_bytes(data)
    return path


@pytest.fixture(scope="module")
def iris_bytes() -> bytes:
    x, y = load_iris(return_X_y=True)
    return bytes(skops.io.dumps(LogisticRegression(max_iter=1000).fit(x, y)))


def prepare(directory: Path, fmt: str = "sklearn", trusted: bool = False, **serving: Any) -> Any:
    async def run() -> tuple[Path, LoadSpec, dict[str, Any]]:
        return (
            directory,
            LoadSpec(name=directory.name, format=fmt, trusted=trusted, serving=serving),
            serving,
        )

    return run


async def predict(pool: WorkerPool, key: str, directory: Path, **kw: Any) -> np.ndarray:
    worker = await pool.get(key, directory.name, prepare(directory, **kw))
    assert worker.batcher is not None
    x = Tensor("input-0", "FP64", np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]))
    (out,) = await worker.batcher.submit([x], ["predict"], {})
    return out.data


def settings(**kw: Any) -> InferenceSettings:
    return InferenceSettings(**{"failed_retry_s": 30.0, **kw})


async def test_a_model_that_kills_its_worker_on_load_fails_alone(
    tmp_path: Path, iris_bytes: bytes
) -> None:
    pool = WorkerPool(settings())
    good = folder(tmp_path, "good", {"model.skops": iris_bytes})
    crash = folder(tmp_path, "crash", {"model.skops": crafted_skops("os._exit", 3)})
    evil = folder(tmp_path, "evil", {"model.skops": crafted_skops("os._exit", 3)})
    try:
        assert (await predict(pool, "good", good)).tolist() == [0, 2]
        with pytest.raises(Unavailable, match="exited"):
            await predict(pool, "crash", crash, trusted=True)
        assert pool.failure("crash") is not None
        with pytest.raises(Unavailable, match="failed to load"):  # remembered, not retried at once
            await predict(pool, "crash", crash, trusted=True)
        with pytest.raises(Unavailable, match="trusted"):  # the same file, untrusted: refused
            await predict(pool, "evil", evil)
        assert (await predict(pool, "good", good)).tolist() == [0, 2]
    finally:
        await pool.close()


async def test_a_corrupt_file_fails_its_model(tmp_path: Path) -> None:
    pool = WorkerPool(settings())
    corrupt = folder(tmp_path, "corrupt", {"model.txt": b"tree\nversion=v4\nnum_class=oops\n"})
    try:
        with pytest.raises((Unavailable, MissingDependency)):
            await predict(pool, "corrupt", corrupt, fmt="lightgbm")
    finally:
        await pool.close()


async def test_a_slow_load_does_not_block_the_event_loop(tmp_path: Path) -> None:
    pool = WorkerPool(settings())
    slow = folder(tmp_path, "slow", {"model.skops": crafted_skops("time.sleep", 2)})
    try:
        loading = asyncio.ensure_future(predict(pool, "slow", slow, trusted=True))
        ticks = 0
        began = time.monotonic()
        while not loading.done():
            await asyncio.sleep(0.05)
            ticks += 1
        assert time.monotonic() - began > 1.5
        assert ticks > 20  # the loop kept turning: health checks would have answered
        with pytest.raises(Unavailable, match="cannot predict"):
            loading.result()
    finally:
        await pool.close()


async def test_a_killed_worker_fails_alone_and_reloads(tmp_path: Path, iris_bytes: bytes) -> None:
    pool = WorkerPool(settings())
    good = folder(tmp_path, "good", {"model.skops": iris_bytes})
    try:
        worker = await pool.get("good", "good", prepare(good))
        assert worker.batcher is not None
        assert worker.pid is not None
        wrong = Tensor("input-0", "FP64", np.ones((1, 7)))
        with pytest.raises(PlaygroundError) as caught:  # the model's own refusal: a 400
            await worker.batcher.submit([wrong], ["predict"], {})
        assert caught.value.code == "invalid_input"
        os.kill(worker.pid, signal.SIGKILL)
        for _ in range(100):
            if "good" not in pool.workers:
                break
            await asyncio.sleep(0.05)
        assert "good" not in pool.workers
        assert (await predict(pool, "good", good)).tolist() == [0, 2]
    finally:
        await pool.close()


async def test_the_cache_is_bounded_and_idle_models_unload(
    tmp_path: Path, iris_bytes: bytes
) -> None:
    pool = WorkerPool(settings(max_loaded_models=1, idle_unload_s=0.2))
    first = folder(tmp_path, "first", {"model.skops": iris_bytes})
    second = folder(tmp_path, "second", {"model.skops": iris_bytes})
    try:
        await predict(pool, "first", first)
        await predict(pool, "second", second)
        assert set(pool.workers) == {"second"}
        await asyncio.sleep(0.3)
        await pool.reap_idle()
        assert pool.workers == {}
    finally:
        await pool.close()
