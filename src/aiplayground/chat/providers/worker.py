"""The LLM worker process: loads one model with an engine, then serves requests one at a time.

Started by `process.WorkerProcess` as `python -m aiplayground.chat.providers.worker FD`
with one end of a socket pair. A reader thread takes requests, tokenizes and checks
them at once (so errors and prompt sizes come back before the queue wait) and answers
cancels; the main thread generates, checking the cancel flag between tokens.
"""

from __future__ import annotations

import importlib
import logging
import queue
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, Protocol

from aiplayground.errors import PlaygroundError

log = logging.getLogger(__name__)


class Engine(Protocol):
    """A loaded model inside the worker (llama.cpp, transformers)."""

    def info(self) -> dict[str, Any]:
        """`{"context_window": N, ...}`, sent to the server once loaded."""
        ...

    def count(self, prompt: Any) -> int:
        """Tokens of the rendered prompt; safe to call while `generate` runs."""
        ...

    def prepare(self, prompt: Any, params: dict[str, Any]) -> Any:
        """Render and tokenize; InvalidInput when it cannot fit. Safe during `generate`."""
        ...

    def generate(
        self,
        prepared: Any,
        params: dict[str, Any],
        should_stop: Callable[[], bool],
        emit: Callable[[str, int], None],
    ) -> tuple[str, int]:
        """Generate, calling emit(text, tokens) per piece; return (finish_reason, tokens)."""
        ...


def error_payload(exc: BaseException) -> dict[str, Any]:
    """An exception as the dict sent to the server (code decides the HTTP status)."""
    if isinstance(exc, PlaygroundError):
        return {"code": exc.code, "message": exc.message, "details": exc.details}
    return {"code": "internal", "message": f"the model worker failed: {exc!r}"}


class WorkerLoop:
    """Reader thread + generation loop over one connection."""

    def __init__(self, conn: Connection, engine: Engine) -> None:
        self.conn = conn
        self.engine = engine
        self.send_lock = threading.Lock()
        self.jobs: queue.SimpleQueue[tuple[int, Any, dict[str, Any]] | None] = queue.SimpleQueue()
        self.cancelled: set[int] = set()
        self.stopping = False

    def send(self, *message: Any) -> None:
        """Send one message; a vanished server means there is nobody left to tell."""
        with self.send_lock:
            try:
                self.conn.send(message)
            except (BrokenPipeError, ConnectionResetError, EOFError, OSError):
                self.stopping = True

    def read(self) -> None:
        """Take requests until the server says stop or goes away."""
        try:
            while True:
                op, request_id, *args = self.conn.recv()
                if op == "generate":
                    self._accept(request_id, args[0], args[1])
                elif op == "count":
                    self._count(request_id, args[0])
                elif op == "cancel":
                    self.cancelled.add(request_id)
                elif op == "stop":
                    break
        except (EOFError, OSError):
            pass
        self.stopping = True
        self.jobs.put(None)

    def _accept(self, request_id: int, prompt: Any, params: dict[str, Any]) -> None:
        try:
            prepared = self.engine.prepare(prompt, params)
        except Exception as exc:
            self.send("error", request_id, error_payload(exc))
            return
        self.send("accepted", request_id, {"prompt_tokens": prepared.prompt_tokens})
        self.jobs.put((request_id, prepared, params))

    def _count(self, request_id: int, prompt: Any) -> None:
        try:
            self.send("result", request_id, self.engine.count(prompt))
        except Exception as exc:
            self.send("error", request_id, error_payload(exc))

    def run(self) -> None:
        """Generate queued requests in order until stopped."""
        threading.Thread(target=self.read, name="aip-llm-reader", daemon=True).start()
        while True:
            job = self.jobs.get()
            if job is None:
                return
            request_id, prepared, params = job
            self._generate(request_id, prepared, params)
            self.cancelled.discard(request_id)

    def _generate(self, request_id: int, prepared: Any, params: dict[str, Any]) -> None:
        def should_stop() -> bool:
            return self.stopping or request_id in self.cancelled

        def emit(text: str, tokens: int) -> None:
            self.send("delta", request_id, text, tokens)

        done = {"prompt_tokens": prepared.prompt_tokens}
        if should_stop():
            self.send("done", request_id, {**done, "finish": "cancelled", "completion_tokens": 0})
            return
        try:
            finish, produced = self.engine.generate(prepared, params, should_stop, emit)
        except Exception as exc:
            if not isinstance(exc, PlaygroundError):
                traceback.print_exc(file=sys.stderr)
            self.send("error", request_id, error_payload(exc))
            return
        if should_stop():
            finish = "cancelled"
        self.send("done", request_id, {**done, "finish": finish, "completion_tokens": produced})


def load_engine(target: str, spec: dict[str, Any]) -> Engine:
    """Import `module:function` and call it with the spec to load the model."""
    module_name, _, function = target.partition(":")
    factory = getattr(importlib.import_module(module_name), function)
    engine: Engine = factory(spec)
    return engine


def main(fd: int) -> None:
    """Load the engine named in the first message, report, and serve."""
    # Ctrl-C in the server's terminal is the server's business; it stops us itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn = Connection(fd)
    target, spec = conn.recv()
    try:
        engine = load_engine(target, spec)
    except PlaygroundError as exc:
        conn.send(("failed", 0, error_payload(exc)))
        return
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        message = f"the model cannot be loaded: {exc}"
        conn.send(("failed", 0, {"code": "unavailable", "message": message}))
        return
    conn.send(("ready", 0, engine.info()))
    WorkerLoop(conn, engine).run()


if __name__ == "__main__":
    main(int(sys.argv[1]))
