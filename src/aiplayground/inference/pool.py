"""Model worker processes: one per loaded model version, started lazily, bounded, reaped.

The server talks to each worker over a socket pair with `wire` frames, from its event
loop (no thread per request). A worker that dies fails only its own requests; a model
whose load fails or crashes is remembered as failed for a while instead of retried at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from aiplayground.errors import (
    PlaygroundError,
    RateLimited,
    Unavailable,
)
from aiplayground.inference.batching import Batcher
from aiplayground.inference.config import InferenceSettings
from aiplayground.inference.runtimes import LoadSpec
from aiplayground.inference.tensor import Tensor
from aiplayground.inference.wire import PREFIX, SMALL_FRAME, pack, unpack
from aiplayground.inference.zygote import Zygote

log = logging.getLogger(__name__)

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
STOP_GRACE_S = 5.0
Prepare = Callable[[], Awaitable[tuple[Path, LoadSpec, dict[str, Any]]]]


def worker_environment(threads: int) -> dict[str, str]:
    """The environment of a worker: numeric libraries capped at `threads` threads."""
    env = dict(os.environ)
    env.update({v: str(threads) for v in THREAD_VARIABLES})
    return env


def error_from(header: dict[str, Any]) -> PlaygroundError:
    """The error a worker reported, with its code (so the HTTP status follows it)."""
    error = PlaygroundError(str(header.get("message", "model worker error")))
    error.code = str(header.get("code", "internal"))
    return error


@dataclass
class Failure:
    """Why a model could not be loaded, and until when that answer stands."""

    message: str
    until: float
    error: PlaygroundError

    def raise_again(self) -> None:
        """Raise a fresh copy of the error (one instance raised twice grows its traceback)."""
        raise type(self.error)(self.error.message, details=self.error.details)


class ModelWorker:
    """The server's handle on one worker process."""

    def __init__(self, key: str, name: str, settings: InferenceSettings) -> None:
        self.key = key
        self.name = name
        self.settings = settings
        self.metadata: dict[str, list[dict[str, Any]]] = {"inputs": [], "outputs": []}
        self.defaults: list[str] = []
        self.last_used = time.monotonic()
        self.proc: subprocess.Popen[bytes] | None = None
        self.pid: int | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.pending: dict[int, asyncio.Future[tuple[dict[str, Any], list[Tensor]]]] = {}
        self.ids = itertools.count(1)
        self.alive = False
        self.reader_task: asyncio.Task[None] | None = None
        self.batcher: Batcher | None = None
        self.on_exit: Callable[[ModelWorker], None] = lambda _: None

    async def start(
        self, directory: Path, spec: LoadSpec, serving: dict[str, Any], zygote: Zygote | None
    ) -> None:
        """Start the process and wait until it has loaded the model."""
        parent, child = socket.socketpair()
        try:
            if zygote is not None and spec.threads == 1:
                with contextlib.suppress(OSError):  # no fork server: spawn instead
                    self.pid = await asyncio.to_thread(zygote.fork, child)
            if self.pid is None:
                # A new session: Ctrl-C on the server's terminal is the server's to handle.
                self.proc = await asyncio.to_thread(
                    subprocess.Popen,
                    [sys.executable, "-m", "aiplayground.inference.worker", str(child.fileno())],
                    pass_fds=(child.fileno(),),
                    stdin=subprocess.DEVNULL,
                    env=worker_environment(spec.threads),
                    start_new_session=True,
                )
                self.pid = self.proc.pid
        finally:
            child.close()
        reader, self.writer = await asyncio.open_unix_connection(sock=parent)
        self.alive = True
        self.reader_task = asyncio.create_task(self._read(reader), name=f"worker-{self.name}")
        header, _ = await asyncio.wait_for(
            self.call({"op": "load", "path": str(directory), "spec": asdict(spec)}),
            self.settings.load_timeout_s,
        )
        self.metadata = header["metadata"]
        self.defaults = header["defaults"]
        s = self.settings
        self.batcher = Batcher(
            self.infer,
            max_rows=int(serving.get("max_batch_size", s.max_batch_size)),
            max_bytes=int(serving.get("max_batch_bytes", s.max_batch_bytes)),
            max_wait_s=float(serving.get("max_batch_wait_ms", s.max_batch_wait_ms)) / 1000,
            max_queue=int(serving.get("max_queue", s.max_queue)),
            timeout_s=float(serving.get("predict_timeout_s", s.predict_timeout_s)),
            on_timeout=self.kill,
            name=self.name,
        )

    async def call(
        self, header: dict[str, Any], tensors: list[Tensor] | None = None
    ) -> tuple[dict[str, Any], list[Tensor]]:
        """Send one frame and wait for the worker's answer to it."""
        if not self.alive or self.writer is None:
            raise Unavailable(f"the worker of model {self.name!r} has exited")
        request_id = next(self.ids)
        header["id"] = request_id
        future = asyncio.get_running_loop().create_future()
        self.pending[request_id] = future
        try:
            buffers = pack(header, tensors)
            # One write for a small frame: each write wakes the worker, which would read a
            # part and sleep again.
            if sum(len(b) for b in buffers) <= SMALL_FRAME:
                self.writer.write(b"".join(buffers))
            else:
                self.writer.writelines(buffers)
            await self.writer.drain()
            reply, outputs = await future
        except (ConnectionError, RuntimeError) as exc:
            raise Unavailable(f"the worker of model {self.name!r} has exited") from exc
        finally:
            self.pending.pop(request_id, None)
        if reply.get("op") == "error":
            raise error_from(reply)
        return reply, outputs

    async def infer(
        self, outputs: list[str], parameters: dict[str, Any], inputs: list[Tensor]
    ) -> list[Tensor]:
        """Run one batch."""
        self.last_used = time.monotonic()
        _, result = await self.call(
            {"op": "infer", "outputs": outputs, "parameters": parameters}, inputs
        )
        return result

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                head_len, payload_len = PREFIX.unpack(await reader.readexactly(PREFIX.size))
                head = await reader.readexactly(head_len)
                payload = await reader.readexactly(payload_len) if payload_len else b""
                header, tensors = unpack(head, payload)
                future = self.pending.get(header.get("id", -1))
                if future is not None and not future.done():
                    future.set_result((header, tensors))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except Exception:
            log.exception("bad frame from the worker of model %s", self.name)
        finally:
            await self._exited()

    async def _exited(self) -> None:
        self.alive = False
        code = await asyncio.to_thread(self._wait)
        how = f" (code {code})" if code is not None else ""
        error = Unavailable(f"the worker of model {self.name!r} exited{how}")
        for future in list(self.pending.values()):
            if not future.done():
                future.set_exception(error)
        if self.writer is not None:
            self.writer.close()
        if self.batcher is not None:
            await self.batcher.close(error)
        self.on_exit(self)

    def _wait(self) -> int | None:
        if self.proc is None:
            return None  # forked by the zygote, which reaps it
        try:
            return self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def kill(self) -> None:
        """End the process at once (it is stuck); the reader then fails what was pending."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
        elif self.pid is not None and self.alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    async def stop(self) -> None:
        """Ask the worker to exit, and make sure it does."""
        self.on_exit = lambda _: None
        if self.alive and self.writer is not None:
            with contextlib.suppress(ConnectionError, RuntimeError):
                self.writer.writelines(pack({"op": "stop", "id": 0}))
                await self.writer.drain()
        if self.proc is not None:
            await asyncio.to_thread(self._wait)
        if self.reader_task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self.reader_task), STOP_GRACE_S)
            except TimeoutError:
                self.kill()  # it did not exit when asked
                with contextlib.suppress(asyncio.CancelledError):
                    await self.reader_task
            except asyncio.CancelledError:
                pass


class WorkerPool:
    """The loaded models: at most `max_loaded_models` workers, least recently used out first."""

    def __init__(self, settings: InferenceSettings) -> None:
        self.settings = settings
        self.workers: dict[str, ModelWorker] = {}
        self.starting: dict[str, asyncio.Task[ModelWorker]] = {}
        self.failures: dict[str, Failure] = {}
        self.reaper: asyncio.Task[None] | None = None
        self.zygote = Zygote(worker_environment(1)) if settings.fork_server else None

    async def get(self, key: str, name: str, prepare: Prepare) -> ModelWorker:
        """The ready worker for `key`, loading it first if needed."""
        worker = self.workers.get(key)
        if worker is not None and worker.alive:
            worker.last_used = time.monotonic()
            return worker
        failure = self.failures.get(key)
        if failure is not None:
            if failure.until > time.monotonic():
                failure.raise_again()
            del self.failures[key]
        task = self.starting.get(key)
        if task is None:
            task = asyncio.create_task(self._start(key, name, prepare), name=f"load-{name}")
            self.starting[key] = task
        # Shielded: a client that gives up does not cancel a load others wait for.
        return await asyncio.shield(task)

    def failure(self, key: str) -> str | None:
        """Why `key` failed to load, while that answer stands."""
        failure = self.failures.get(key)
        return failure.message if failure and failure.until > time.monotonic() else None

    async def _start(self, key: str, name: str, prepare: Prepare) -> ModelWorker:
        worker = ModelWorker(key, name, self.settings)
        try:
            directory, spec, serving = await prepare()
            await self._make_room()
            log.info("loading model %s", name)
            await worker.start(directory, spec, serving, self.zygote)
        except RateLimited:
            raise  # no free slot: the model itself is fine
        except (PlaygroundError, TimeoutError, OSError) as exc:
            await worker.stop()
            raise self._failed(key, name, exc) from exc
        except asyncio.CancelledError:
            worker.kill()
            raise
        finally:
            self.starting.pop(key, None)
        worker.on_exit = self._forget
        self.workers[key] = worker
        return worker

    def _failed(self, key: str, name: str, exc: BaseException) -> PlaygroundError:
        if isinstance(exc, TimeoutError):
            reason = f"loading took longer than {self.settings.load_timeout_s} s"
        else:
            reason = exc.message if isinstance(exc, PlaygroundError) else str(exc)
        error: PlaygroundError
        if isinstance(exc, PlaygroundError) and exc.code == "missing_dependency":
            error = exc
        else:
            error = Unavailable(f"model {name!r} failed to load: {reason}")
        log.warning("model %s failed to load: %s", name, reason)
        until = time.monotonic() + self.settings.failed_retry_s
        self.failures[key] = Failure(reason, until, error)
        return error

    def _forget(self, worker: ModelWorker) -> None:
        if self.workers.get(worker.key) is worker:
            del self.workers[worker.key]
            log.warning(
                "the worker of model %s exited; it reloads on the next request", worker.name
            )

    async def _make_room(self) -> None:
        limit = max(1, self.settings.max_loaded_models)
        while len(self.workers) + len(self.starting) > limit:
            idle = [w for w in self.workers.values() if not (w.batcher and w.batcher.pending)]
            if not idle:
                raise RateLimited(f"all {limit} model slots are busy", retry_after=1.0)
            victim = min(idle, key=lambda w: w.last_used)
            log.info("unloading model %s to make room", victim.name)
            del self.workers[victim.key]
            await victim.stop()

    async def reap_idle(self) -> None:
        """Unload the models unused for longer than `idle_unload_s`."""
        cutoff = time.monotonic() - self.settings.idle_unload_s
        for worker in list(self.workers.values()):
            busy = worker.batcher is not None and worker.batcher.pending
            if worker.last_used < cutoff and not busy:
                log.info("unloading idle model %s", worker.name)
                self.workers.pop(worker.key, None)
                await worker.stop()

    async def _reap_forever(self) -> None:
        period = max(1.0, min(self.settings.idle_unload_s / 4, 60.0))
        while True:
            await asyncio.sleep(period)
            await self.reap_idle()

    def start(self) -> None:
        """Start unloading idle models in the background."""
        if self.reaper is None:
            self.reaper = asyncio.create_task(self._reap_forever(), name="model-reaper")
            if self.zygote is not None:
                # In a thread: starting a process must not hold up the server's start.
                asyncio.get_running_loop().run_in_executor(None, self.zygote.warm)

    async def close(self) -> None:
        """Stop every worker."""
        if self.reaper is not None:
            self.reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.reaper
            self.reaper = None
        for task in list(self.starting.values()):
            task.cancel()
        workers, self.workers = list(self.workers.values()), {}
        await asyncio.gather(*(w.stop() for w in workers), return_exceptions=True)
        if self.zygote is not None:
            await asyncio.to_thread(self.zygote.close)
