"""A model worker process: loads one model version, then answers batches until told to stop.

Started by the pool as `python -m aiplayground.inference.worker FD` with one end of a
socket pair; the first frame says what to load. A crash here (a segfault in a native
library, a model that exits on load) ends only this process.
"""

from __future__ import annotations

import logging
import socket
import sys
import traceback
from pathlib import Path
from typing import Any

from aiplayground.errors import InvalidInput, PlaygroundError
from aiplayground.inference.runtimes import LoadSpec, ModelRuntime, load_runtime
from aiplayground.inference.tensor import Tensor, datatype_of
from aiplayground.inference.wire import BlockingConnection

log = logging.getLogger("aiplayground.inference.worker")

# Errors a model raises on data it cannot take: the caller's input, not the server, is wrong.
INPUT_ERRORS = (ValueError, TypeError, IndexError, KeyError)


def _error(exc: BaseException, *, loading: bool) -> dict[str, Any]:
    if isinstance(exc, PlaygroundError):
        return {"op": "error", "code": exc.code, "message": exc.message}
    message = f"{type(exc).__name__}: {exc}"[:2000]
    if loading:
        return {"op": "error", "code": "load_failed", "message": message}
    if isinstance(exc, INPUT_ERRORS):
        return {
            "op": "error",
            "code": InvalidInput.code,
            "message": f"the model refused the input: {message}",
        }
    log.error("prediction failed\n%s", traceback.format_exc())
    return {"op": "error", "code": "internal", "message": f"the model failed: {message}"}


def _load(header: dict[str, Any]) -> ModelRuntime:
    spec = LoadSpec(**header["spec"])
    return load_runtime(Path(header["path"]), spec)


def _infer(runtime: ModelRuntime, header: dict[str, Any], tensors: list[Tensor]) -> list[Tensor]:
    inputs = {t.name: t.data for t in tensors}
    names = header.get("outputs") or runtime.defaults()
    arrays = runtime.predict(inputs, names, header.get("parameters") or {})
    return [Tensor(name, datatype_of(arrays[name]), arrays[name]) for name in names]


def serve(conn: BlockingConnection) -> int:
    """Load the model named by the first frame, then answer frames until EOF or `stop`."""
    first = conn.recv()
    if first is None:
        return 0
    header, _ = first
    try:
        runtime = _load(header)
        metadata = runtime.metadata()
        defaults = runtime.defaults()
    except BaseException as exc:  # report every load failure, then exit
        conn.send({**_error(exc, loading=True), "id": header.get("id")})
        return 1
    conn.send({"op": "loaded", "id": header.get("id"), "metadata": metadata, "defaults": defaults})
    while True:
        frame = conn.recv()
        if frame is None:
            return 0
        header, tensors = frame
        if header.get("op") == "stop":
            return 0
        try:
            outputs = _infer(runtime, header, tensors)
        except Exception as exc:
            conn.send({**_error(exc, loading=False), "id": header["id"]})
            continue
        conn.send({"op": "result", "id": header["id"]}, outputs)


def main(argv: list[str]) -> int:
    """Entry point of a worker process."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(levelname)s %(message)s")
    sock = socket.socket(fileno=int(argv[1]))
    try:
        return serve(BlockingConnection(sock))
    finally:
        sock.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
