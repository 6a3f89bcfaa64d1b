"""The server's handle on one LLM worker process (see `worker`): start, stream, cancel, stop.

A reader thread (not an event-loop task) receives the worker's messages and hands each to
the event loop of the request it belongs to, so one handle serves requests from any loop
(uvicorn's, a test client's portal, the UI's).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from multiprocessing.connection import Connection
from typing import Any

from aiplayground.chat.params import GenerationParams
from aiplayground.chat.provider import CancelToken, Chunk, Prompt, ProviderState
from aiplayground.errors import PlaygroundError, RateLimited, Unavailable

log = logging.getLogger(__name__)

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
STOP_WAIT_S = 5.0
RETRY_LOAD_AFTER_S = 30.0


def error_from(payload: dict[str, Any]) -> PlaygroundError:
    """The error a worker reported, keeping its code (so the HTTP status follows it)."""
    error = PlaygroundError(
        str(payload.get("message", "model worker error")), details=payload.get("details")
    )
    error.code = str(payload.get("code", "internal"))
    return error


class WorkerProcess:
    """One worker process running `target` (an engine factory) on `spec`."""

    def __init__(
        self,
        target: str,
        spec: dict[str, Any],
        *,
        name: str,
        threads: int,
        load_timeout_s: float,
        max_queue: int,
    ) -> None:
        self.target = target
        self.spec = spec
        self.name = name
        self.threads = threads
        self.load_timeout_s = load_timeout_s
        self.max_queue = max_queue
        self.info: dict[str, Any] = {}
        self.state = "unloaded"
        self.failure = ""
        self.last_used = time.monotonic()
        self._proc: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._start_lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._waiters: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Queue[Any]]] = {}
        # Generations the worker has not reported finished, including cancelled ones
        # whose caller already left: they still hold the model until the worker says so.
        self._inflight: set[int] = set()
        self._failure: PlaygroundError | None = None
        self._failed_at = 0.0

    # lifecycle -------------------------------------------------------------------------

    @property
    def queued(self) -> int:
        """Generations sent to the worker and not finished (the running one included)."""
        return len(self._inflight)

    def status(self) -> ProviderState:
        """The worker's state for the status dot."""
        return ProviderState(self.state, self.failure, self.queued)

    async def ensure_started(self) -> dict[str, Any]:
        """Start the worker and wait for its model to load (once; concurrent callers wait)."""
        if self.state != "loaded":
            await asyncio.to_thread(self._start)
        self.last_used = time.monotonic()
        return self.info

    def _start(self) -> None:
        with self._start_lock:
            if self.state == "loaded":
                return
            failed = self._failure
            if failed is not None and time.monotonic() - self._failed_at < RETRY_LOAD_AFTER_S:
                raise failed  # a model that just failed to load is not retried per request
            self.state = "loading"
            try:
                self._spawn()
            except PlaygroundError as exc:
                self._failed(exc)
                raise
            except Exception as exc:
                error = Unavailable(f"cannot start the worker of model {self.name!r}: {exc}")
                self._failed(error)
                raise error from exc
            self.state, self.failure, self._failure = "loaded", "", None
            threading.Thread(target=self._read, name=f"aip-llm-{self.name}", daemon=True).start()

    def _failed(self, error: PlaygroundError) -> None:
        self.state, self.failure = "failed", error.message
        self._failure, self._failed_at = error, time.monotonic()
        self._kill()

    def _spawn(self) -> None:
        parent, child = socket.socketpair()
        env = dict(os.environ)
        env.update({v: str(self.threads) for v in THREAD_VARIABLES})
        try:
            # A new session: Ctrl-C on the server's terminal is the server's to handle.
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "aiplayground.chat.providers.worker", str(child.fileno())],
                pass_fds=(child.fileno(),),
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        finally:
            child.close()
        self._conn = conn = Connection(parent.detach())
        conn.send((self.target, self.spec))
        if not conn.poll(self.load_timeout_s):
            raise Unavailable(
                f"model {self.name!r} did not load within {self.load_timeout_s:g} s "
                "(AIP_CHAT__LOAD_TIMEOUT_S)"
            )
        try:
            op, _, payload = conn.recv()
        except (EOFError, OSError) as exc:
            raise Unavailable(f"the worker of model {self.name!r} died while loading") from exc
        if op != "ready":
            raise error_from(payload)
        self.info = payload

    def _read(self) -> None:
        conn = self._conn
        assert conn is not None
        try:
            while True:
                op, request_id, *args = conn.recv()
                if op in ("done", "error"):
                    self._inflight.discard(request_id)
                waiter = self._waiters.get(request_id)
                if waiter is not None:
                    loop, inbox = waiter
                    loop.call_soon_threadsafe(inbox.put_nowait, (op, args))
        except (EOFError, OSError):
            pass
        except Exception:
            log.exception("bad message from the worker of model %s", self.name)
        crashed = self.state == "loaded"
        self.state = "unloaded"
        if crashed:
            log.warning("the worker of model %s exited", self.name)
        gone = ("error", [{"code": "unavailable", "message": f"model {self.name!r} stopped"}])
        self._inflight.clear()
        for loop, inbox in list(self._waiters.values()):
            loop.call_soon_threadsafe(inbox.put_nowait, gone)
        self._kill()

    def stop(self) -> None:
        """Ask the worker to exit and make sure it does (blocks up to a few seconds)."""
        self.state = "unloaded"
        self._send("stop", 0)
        proc = self._proc
        if proc is not None:
            try:
                proc.wait(timeout=STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._kill()

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _send(self, *message: Any) -> bool:
        with self._send_lock:
            conn = self._conn
            if conn is None:
                return False
            try:
                conn.send(message)
            except (OSError, ValueError):
                return False
            return True

    # requests --------------------------------------------------------------------------

    async def count(self, prompt: Any) -> int:
        """Tokens of the rendered prompt (answered without waiting for generations)."""
        await self.ensure_started()
        async with aclosing(self._call("count", next(self._ids), prompt)) as replies:
            async for op, args in replies:
                if op == "result":
                    return int(args[0])
        raise Unavailable(f"model {self.name!r} did not answer")

    async def stream(
        self, prompt: Any, params: dict[str, Any], cancel: CancelToken
    ) -> AsyncIterator[Chunk]:
        """Generate in the worker; see `LLMProvider.stream` for the chunk sequence."""
        await self.ensure_started()
        if self.queued >= self.max_queue:
            raise RateLimited(
                f"model {self.name!r} has {self.queued} requests waiting; try again shortly",
                retry_after=1.0 + self.queued / 4,
            )
        request_id = next(self._ids)
        accepted = finished = False

        def send_cancel() -> None:
            self._send("cancel", request_id)

        self._inflight.add(request_id)
        try:
            async with aclosing(self._call("generate", request_id, prompt, params)) as replies:
                async for op, args in replies:
                    if op == "accepted":
                        accepted = True
                        cancel.on_cancel(send_cancel)
                        yield Chunk(prompt_tokens=int(args[0]["prompt_tokens"]))
                    elif op == "delta":
                        yield Chunk(text=args[0], tokens=int(args[1]))
                    elif op == "done":
                        finished = True
                        done = args[0]
                        yield Chunk(
                            finish_reason=done["finish"],
                            prompt_tokens=done["prompt_tokens"],
                            completion_tokens=done["completion_tokens"],
                        )
                        return
        finally:
            if accepted and not finished:
                send_cancel()  # the consumer went away: free the model now
            elif not accepted:
                self._inflight.discard(request_id)

    async def _call(self, op: str, request_id: int, *args: Any) -> AsyncGenerator[Any, None]:
        inbox: asyncio.Queue[Any] = asyncio.Queue()
        self._waiters[request_id] = (asyncio.get_running_loop(), inbox)
        self.last_used = time.monotonic()
        try:
            if not self._send(op, request_id, *args):
                raise Unavailable(f"model {self.name!r} is not running; try again")
            while True:
                kind, payload = await inbox.get()
                if kind == "error":
                    raise error_from(payload[0])
                yield kind, payload
        finally:
            self._waiters.pop(request_id, None)
            self.last_used = time.monotonic()


def wire_prompt(prompt: Prompt) -> list[dict[str, str]] | str:
    """A prompt as plain data for the worker."""
    if isinstance(prompt, str):
        return prompt
    return [{"role": m.role, "content": m.content} for m in prompt]


class WorkerProvider:
    """An `LLMProvider` whose model runs in a `WorkerProcess` (embedded, transformers)."""

    def __init__(self, kind: str, supported_params: frozenset[str], worker: WorkerProcess) -> None:
        self.kind = kind
        self.supported_params = supported_params
        self.worker = worker

    async def context_window(self) -> int:
        """The context window the worker loaded the model with."""
        info = await self.worker.ensure_started()
        return int(info["context_window"])

    async def count_tokens(self, prompt: Prompt) -> int:
        """Exact, with the model's own tokenizer and chat template."""
        return await self.worker.count(wire_prompt(prompt))

    def stream(
        self, prompt: Prompt, params: GenerationParams, cancel: CancelToken
    ) -> AsyncIterator[Chunk]:
        """Generate in the worker process."""
        return self.worker.stream(wire_prompt(prompt), params.model_dump(exclude_none=True), cancel)

    def state(self) -> ProviderState:
        """The worker's state."""
        return self.worker.status()

    @property
    def idle_s(self) -> float:
        """Seconds since the last request finished (0 while one runs)."""
        if self.worker.queued:
            return 0.0
        return time.monotonic() - self.worker.last_used

    async def close(self) -> None:
        """Stop the worker process."""
        await asyncio.to_thread(self.worker.stop)
