"""Frames between the server and its model workers: a small JSON header, then raw arrays.

A frame is `<u4 header length><u8 payload length>`, the header (orjson), then each tensor's
raw little-endian bytes in order. Nothing on this wire is ever unpickled.
"""

from __future__ import annotations

import socket
import struct
from typing import Any

import orjson

from aiplayground.errors import InvalidInput
from aiplayground.inference.tensor import Tensor, from_buffer, to_buffer

PREFIX = struct.Struct("<IQ")
MAX_HEADER = 64 * 1024**2
# Below this, one joined write is cheaper than one system call per buffer.
SMALL_FRAME = 256 * 1024


def pack(header: dict[str, Any], tensors: list[Tensor] | None = None) -> list[bytes | memoryview]:
    """The buffers of one frame (write them in order)."""
    buffers = [to_buffer(t.data) for t in tensors or []]
    header["tensors"] = [
        {"name": t.name, "datatype": t.datatype, "shape": t.shape, "nbytes": len(b)}
        for t, b in zip(tensors or [], buffers, strict=True)
    ]
    head = orjson.dumps(header)
    return [PREFIX.pack(len(head), sum(len(b) for b in buffers)), head, *buffers]


def unpack(
    head: bytes | bytearray | memoryview, payload: bytes | bytearray | memoryview
) -> tuple[dict[str, Any], list[Tensor]]:
    """The header and tensors of one frame."""
    header: dict[str, Any] = orjson.loads(head)
    tensors = []
    view = memoryview(payload)
    offset = 0
    for t in header.pop("tensors", []):
        chunk = view[offset : offset + t["nbytes"]]
        offset += t["nbytes"]
        what = f"tensor {t['name']!r}"
        tensors.append(
            Tensor(t["name"], t["datatype"], from_buffer(chunk, t["datatype"], t["shape"], what))
        )
    if offset != len(view):
        raise InvalidInput("frame payload does not match its header")
    return header, tensors


class BlockingConnection:
    """The worker's end: blocking reads and writes on a stream socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def recv(self) -> tuple[dict[str, Any], list[Tensor]] | None:
        """The next frame, or None when the server closed the connection."""
        prefix = self._exactly(PREFIX.size)
        if prefix is None:
            return None
        head_len, payload_len = PREFIX.unpack(prefix)
        if head_len > MAX_HEADER:
            raise InvalidInput("frame header too large")
        head = self._exactly(head_len)
        payload = self._exactly(payload_len)
        if head is None or payload is None:
            return None
        return unpack(head, payload)

    def send(self, header: dict[str, Any], tensors: list[Tensor] | None = None) -> None:
        """Write one frame."""
        buffers = pack(header, tensors)
        if sum(len(b) for b in buffers) <= SMALL_FRAME:
            self.sock.sendall(b"".join(buffers))
            return
        for buffer in buffers:
            self.sock.sendall(buffer)

    def _exactly(self, size: int) -> bytearray | None:
        # A bytearray: numpy views of it are writable, which some runtimes need.
        buffer = bytearray(size)
        view = memoryview(buffer)
        got = 0
        while got < size:
            n = self.sock.recv_into(view[got:])
            if n == 0:
                return None
            got += n
        return buffer
