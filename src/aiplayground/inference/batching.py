"""Adaptive batching: concurrent requests to one model become one call, then split back.

While the model is busy with one batch, new requests queue; the next batch takes every
compatible queued request up to `max_rows` rows and `max_bytes` of input. So a lone request
is never delayed, and under load the per-call overhead (the process hop, the model's own
fixed cost) is shared; the byte bound keeps merged batches of large tensors (images) small
while rows of a few features merge by the thousand. An optional `max_wait_s` also waits for
more requests before sending a batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from aiplayground.errors import PlaygroundError, RateLimited, UpstreamTimeout
from aiplayground.inference.tensor import Tensor

log = logging.getLogger(__name__)

RunBatch = Callable[[list[str], dict[str, Any], list[Tensor]], Awaitable[list[Tensor]]]


@dataclass
class Job:
    """One request waiting for the model."""

    inputs: list[Tensor]
    outputs: list[str]
    parameters: dict[str, Any]
    future: asyncio.Future[list[Tensor]]
    rows: int | None = None
    nbytes: int = 0
    key: tuple[Any, ...] = field(default=())

    def __post_init__(self) -> None:
        self.nbytes = sum(t.data.nbytes for t in self.inputs)
        firsts = {t.data.shape[0] if t.data.ndim else None for t in self.inputs}
        self.rows = firsts.pop() if len(firsts) == 1 else None
        if self.rows is not None:
            # Requests merge when everything but the row count agrees.
            self.key = (
                tuple((t.name, t.datatype, t.data.shape[1:]) for t in self.inputs),
                tuple(self.outputs),
                orjson.dumps(self.parameters, option=orjson.OPT_SORT_KEYS)
                if self.parameters
                else b"",
            )


class Batcher:
    """Queues requests for one model worker and sends them as merged batches."""

    def __init__(
        self,
        run: RunBatch,
        *,
        max_rows: int,
        max_bytes: int,
        max_wait_s: float,
        max_queue: int,
        timeout_s: float,
        on_timeout: Callable[[], None],
        name: str,
    ) -> None:
        self.run = run
        self.max_rows = max(1, max_rows)
        self.max_bytes = max(1, max_bytes)
        self.max_wait_s = max(0.0, max_wait_s)
        self.max_queue = max(1, max_queue)
        self.timeout_s = timeout_s
        self.on_timeout = on_timeout
        self.name = name
        self.queue: deque[Job] = deque()
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.closed: PlaygroundError | None = None
        self.running: list[Job] = []

    @property
    def pending(self) -> int:
        """Requests queued or running."""
        return len(self.queue) + len(self.running)

    async def submit(
        self, inputs: list[Tensor], outputs: list[str], parameters: dict[str, Any]
    ) -> list[Tensor]:
        """Queue a request and wait for its outputs."""
        if self.closed is not None:
            raise self.closed
        if len(self.queue) >= self.max_queue:
            raise RateLimited(f"model {self.name!r} has {len(self.queue)} requests waiting")
        job = Job(inputs, outputs, parameters, asyncio.get_running_loop().create_future())
        self.queue.append(job)
        if self.task is None:
            self.task = asyncio.create_task(self._loop(), name=f"batcher-{self.name}")
        self.wake.set()
        return await job.future

    async def close(self, error: PlaygroundError) -> None:
        """Fail every queued request with `error` and stop."""
        self.closed = error
        _fail([*self.running, *self.queue], error)
        self.queue.clear()
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def _loop(self) -> None:
        while True:
            if not self.queue:
                self.wake.clear()
                await self.wake.wait()
                continue
            if self.max_wait_s and sum(j.rows or 1 for j in self.queue) < self.max_rows:
                await asyncio.sleep(self.max_wait_s)
            batch = self._take()
            if not batch:
                continue
            self.running = batch
            try:
                await self._send(batch)
            finally:
                self.running = []

    def _take(self) -> list[Job]:
        first = self.queue.popleft()
        while first.future.done():  # cancelled by a client that went away
            if not self.queue:
                return []
            first = self.queue.popleft()
        if first.rows is None:
            return [first]
        batch, rows, size, kept = [first], first.rows, first.nbytes, deque[Job]()
        while self.queue and rows < self.max_rows:
            job = self.queue.popleft()
            if job.future.done():
                continue
            fits = rows + (job.rows or 0) <= self.max_rows and size + job.nbytes <= self.max_bytes
            if job.key == first.key and fits:
                batch.append(job)
                rows += job.rows or 0
                size += job.nbytes
            else:
                kept.append(job)
        kept.extend(self.queue)
        self.queue = kept
        return batch

    async def _send(self, batch: list[Job]) -> None:
        first = batch[0]
        if len(batch) == 1:
            inputs = first.inputs
        else:
            inputs = [
                Tensor(t.name, t.datatype, np.concatenate([j.inputs[i].data for j in batch]))
                for i, t in enumerate(first.inputs)
            ]
        try:
            outputs = await asyncio.wait_for(
                self.run(first.outputs, first.parameters, inputs), self.timeout_s
            )
        except TimeoutError:
            self.on_timeout()
            _fail(
                batch, UpstreamTimeout(f"model {self.name!r} took longer than {self.timeout_s} s")
            )
            return
        except PlaygroundError as exc:
            if len(batch) > 1 and exc.code == "invalid_input":
                # One bad request must not fail the others merged with it.
                await self._one_by_one(batch)
            else:
                _fail(batch, exc)
            return
        except Exception:
            log.exception("batch for model %s failed", self.name)
            _fail(batch, PlaygroundError(f"model {self.name!r} failed unexpectedly"))
            return
        if len(batch) == 1:
            _resolve(first, outputs)
            return
        total = sum(j.rows or 0 for j in batch)
        if any(t.data.ndim == 0 or t.data.shape[0] != total for t in outputs):
            await self._one_by_one(batch)  # outputs not per row: cannot be split
            return
        start = 0
        for job in batch:
            stop = start + (job.rows or 0)
            _resolve(job, [Tensor(t.name, t.datatype, t.data[start:stop]) for t in outputs])
            start = stop

    async def _one_by_one(self, batch: list[Job]) -> None:
        for job in batch:
            if job.future.done():
                continue
            try:
                outputs = await asyncio.wait_for(
                    self.run(job.outputs, job.parameters, job.inputs), self.timeout_s
                )
            except TimeoutError:
                self.on_timeout()
                _fail([job], UpstreamTimeout(f"model {self.name!r} took too long"))
            except PlaygroundError as exc:
                _fail([job], exc)
            else:
                _resolve(job, outputs)


def _resolve(job: Job, outputs: list[Tensor]) -> None:
    if not job.future.done():
        job.future.set_result(outputs)


def _fail(batch: list[Job], error: BaseException) -> None:
    for job in batch:
        if not job.future.done():
            job.future.set_exception(error)
