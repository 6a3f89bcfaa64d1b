"""Adaptive batching: merge what queued while the model was busy, split it back, isolate errors."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from aiplayground.errors import InvalidInput, RateLimited, UpstreamTimeout
from aiplayground.inference.batching import Batcher
from aiplayground.inference.tensor import Tensor


class FakeModel:
    """Doubles its input; records the batch sizes it saw; refuses negative numbers."""

    def __init__(self, delay: float = 0.01) -> None:
        self.delay = delay
        self.batches: list[int] = []

    async def run(
        self, outputs: list[str], parameters: dict[str, Any], inputs: list[Tensor]
    ) -> list[Tensor]:
        x = inputs[0].data
        self.batches.append(len(x))
        await asyncio.sleep(self.delay)
        if (x < 0).any():
            raise InvalidInput("negative")
        return [Tensor("y", "FP64", x * 2)]


def batcher(model: FakeModel, **kw: Any) -> Batcher:
    options = {
        "max_rows": 64,
        "max_bytes": 1024**2,
        "max_wait_s": 0.0,
        "max_queue": 100,
        "timeout_s": 5.0,
    }
    options.update(kw)
    return Batcher(model.run, on_timeout=lambda: None, name="m", **options)


def rows(*values: float) -> list[Tensor]:
    return [Tensor("x", "FP64", np.array(values, dtype=np.float64).reshape(-1, 1))]


async def test_concurrent_requests_merge_and_split_back() -> None:
    model = FakeModel()
    b = batcher(model)
    results = await asyncio.gather(*(b.submit(rows(i, i + 0.5), ["y"], {}) for i in range(10)))
    for i, result in enumerate(results):
        assert result[0].data.ravel().tolist() == [2 * i, 2 * i + 1]
    assert sum(model.batches) == 20
    assert len(model.batches) < 10
    await b.close(InvalidInput("closed"))


async def test_a_lone_request_does_not_wait_for_company() -> None:
    model = FakeModel(delay=0)
    b = batcher(model, max_wait_s=0.0)
    loop = asyncio.get_running_loop()
    began = loop.time()
    await b.submit(rows(1), ["y"], {})
    assert loop.time() - began < 0.05
    assert model.batches == [1]
    await b.close(InvalidInput("closed"))


async def test_max_rows_bounds_a_batch() -> None:
    model = FakeModel()
    b = batcher(model, max_rows=4)
    await asyncio.gather(*(b.submit(rows(i), ["y"], {}) for i in range(12)))
    assert max(model.batches) <= 4
    await b.close(InvalidInput("closed"))


async def test_max_bytes_bounds_a_batch_but_a_large_request_still_runs() -> None:
    model = FakeModel()
    b = batcher(model, max_bytes=3 * 8)  # three float64 values
    await asyncio.gather(*(b.submit(rows(i), ["y"], {}) for i in range(12)))
    assert max(model.batches) == 3
    big = await b.submit(rows(*range(10)), ["y"], {})
    assert big[0].data.ravel().tolist() == [2 * i for i in range(10)]
    assert model.batches[-1] == 10
    await b.close(InvalidInput("closed"))


async def test_different_parameters_or_shapes_are_not_merged() -> None:
    model = FakeModel()
    b = batcher(model)
    wide = [Tensor("x", "FP64", np.ones((1, 2)))]
    await asyncio.gather(
        b.submit(rows(1), ["y"], {}),
        b.submit(rows(2), ["y"], {"t": 1}),
        b.submit(wide, ["y"], {}),
        b.submit(rows(3), ["y"], {}),
    )
    assert sorted(model.batches) == [1, 1, 2]  # only the two plain one-row requests merge
    await b.close(InvalidInput("closed"))


async def test_one_bad_request_does_not_fail_its_batch() -> None:
    model = FakeModel()
    b = batcher(model)
    first = asyncio.ensure_future(b.submit(rows(0), ["y"], {}))
    await asyncio.sleep(0)
    results = await asyncio.gather(
        b.submit(rows(1), ["y"], {}),
        b.submit(rows(-1), ["y"], {}),
        b.submit(rows(2), ["y"], {}),
        return_exceptions=True,
    )
    await first
    assert results[0][0].data.ravel().tolist() == [2.0]
    assert isinstance(results[1], InvalidInput)
    assert results[2][0].data.ravel().tolist() == [4.0]
    await b.close(InvalidInput("closed"))


async def test_full_queue_is_429_and_slow_model_times_out() -> None:
    slow = FakeModel(delay=0.5)
    timed_out: list[bool] = []
    b = Batcher(
        slow.run,
        max_rows=1,
        max_bytes=1024,
        max_wait_s=0,
        max_queue=2,
        timeout_s=0.1,
        on_timeout=lambda: timed_out.append(True),
        name="m",
    )
    results = await asyncio.gather(
        *(b.submit(rows(i), ["y"], {}) for i in range(4)), return_exceptions=True
    )
    assert any(isinstance(r, RateLimited) for r in results)
    assert any(isinstance(r, UpstreamTimeout) for r in results)
    assert timed_out
    await b.close(InvalidInput("closed"))


async def test_max_wait_collects_requests_that_arrive_later() -> None:
    model = FakeModel(delay=0)
    b = batcher(model, max_wait_s=0.05)

    async def later(i: int) -> Any:
        await asyncio.sleep(0.01 * i)
        return await b.submit(rows(i), ["y"], {})

    await asyncio.gather(*(later(i) for i in range(3)))
    assert model.batches == [3]
    await b.close(InvalidInput("closed"))


async def test_close_fails_waiting_requests() -> None:
    model = FakeModel(delay=0.2)
    b = batcher(model, max_rows=1)
    waiting = [asyncio.ensure_future(b.submit(rows(i), ["y"], {})) for i in range(3)]
    await asyncio.sleep(0.05)
    await b.close(InvalidInput("gone"))
    done = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(d, (InvalidInput, asyncio.CancelledError)) for d in done[1:])
    with pytest.raises(InvalidInput):
        await b.submit(rows(1), ["y"], {})
