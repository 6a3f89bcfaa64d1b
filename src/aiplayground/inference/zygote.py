"""A fork server for model workers: imports the numeric stack once, forks a worker per model.

Importing scikit-learn takes seconds of CPU; a fork of a process that already did takes
milliseconds. The zygote is single-threaded when it forks (thread pools are capped at one
thread before numpy loads), receives each worker's socket over its own socket (SCM_RIGHTS)
and answers with the child's pid. Nothing but a file descriptor and a pid crosses it.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import signal
import socket
import struct
import subprocess
import sys
import threading

PID = struct.Struct("<i")
DEFAULT_PRELOAD = (
    "numpy",
    "skops.io",
    "sklearn.base",
    "sklearn.linear_model",
    "sklearn.ensemble",
    "sklearn.pipeline",
    "sklearn.preprocessing",
)


class Zygote:
    """The server's handle on the fork server process."""

    def __init__(self, env: dict[str, str], preload: tuple[str, ...] = DEFAULT_PRELOAD) -> None:
        self.env = env
        self.preload = preload
        self.sock: socket.socket | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.lock = threading.Lock()

    def _start(self) -> socket.socket:
        parent, child = socket.socketpair()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", __name__, str(child.fileno()), *self.preload],
                pass_fds=(child.fileno(),),
                stdin=subprocess.DEVNULL,
                env=self.env,
                start_new_session=True,
            )
        finally:
            child.close()
        self.sock = parent
        return parent

    def warm(self) -> None:
        """Start the fork server now, so that it has imported its modules by the first load."""
        with self.lock:
            if self.sock is None:
                self._start()

    def fork(self, worker_end: socket.socket) -> int:
        """Start a worker on `worker_end` and return its pid (blocking: call in a thread)."""
        with self.lock:
            sock = self.sock if self.sock is not None else self._start()
            try:
                socket.send_fds(sock, [b"F"], [worker_end.fileno()])
                answer = sock.recv(PID.size)
            except OSError:
                answer = b""
            if len(answer) != PID.size:
                self._reset()
                raise OSError("the model fork server is gone")
            (pid,) = PID.unpack(answer)
            return int(pid)

    def _reset(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.proc is not None:
            with contextlib.suppress(OSError):
                self.proc.kill()
            self.proc.wait()
            self.proc = None

    def close(self) -> None:
        """Stop the fork server (its workers live on until their sockets close)."""
        with self.lock:
            self._reset()


def _child(fd: int, zygote: socket.socket) -> None:
    from aiplayground.inference.wire import BlockingConnection
    from aiplayground.inference.worker import serve

    zygote.close()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.setsid()
    sock = socket.socket(fileno=fd)
    code = 1
    try:
        code = serve(BlockingConnection(sock))
    finally:
        sock.close()
        os._exit(code)


def main(argv: list[str]) -> int:
    """Entry point: preload, then fork a worker for every descriptor received."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s zygote %(levelname)s %(message)s")
    zygote = socket.socket(fileno=int(argv[1]))
    for module in argv[2:]:
        with contextlib.suppress(ImportError):
            importlib.import_module(module)
    import aiplayground.inference.worker  # noqa: F401  (imported once, for every child)

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    while True:
        try:
            _, fds, _, _ = socket.recv_fds(zygote, 16, 1)
        except OSError:
            return 0
        if not fds:
            return 0  # the server closed the connection
        pid = os.fork()
        if pid == 0:
            _child(fds[0], zygote)
        os.close(fds[0])
        zygote.sendall(PID.pack(pid))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
