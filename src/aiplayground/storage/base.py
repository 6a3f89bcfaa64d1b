"""The `ArtifactStore` interface and the helpers every backend shares."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from aiplayground.errors import InvalidInput, TooLarge

CHUNK_SIZE = 1024 * 1024
MAX_KEY_LENGTH = 512

# A segment may not start with a dot: that refuses "." and ".." and keeps the
# backends' own bookkeeping names (the file store's ".tmp/") out of the key space.
_SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class ArtifactInfo:
    """What a finished write produced: where it lives, its size and its SHA-256."""

    key: str
    size: int
    sha256: str


@runtime_checkable
class ArtifactStore(Protocol):
    """Blob storage for models, datasets and documents, addressed by validated keys."""

    def new_key(self, prefix: str) -> str:
        """Return a fresh server-generated key under `prefix`."""
        ...

    def put_stream(
        self,
        key: str,
        stream: BinaryIO | Iterable[bytes],
        *,
        max_bytes: int | None = None,
    ) -> ArtifactInfo:
        """Write a stream under `key` atomically, in constant memory; TooLarge past max_bytes."""
        ...

    def put_bytes(self, key: str, data: bytes) -> ArtifactInfo:
        """Write `data` under `key` atomically."""
        ...

    def open(self, key: str) -> BinaryIO:
        """Open the artifact for reading; NotFound if it does not exist."""
        ...

    def read_bytes(self, key: str) -> bytes:
        """Read the whole artifact; NotFound if it does not exist."""
        ...

    def exists(self, key: str) -> bool:
        """Tell whether an artifact is stored under `key`."""
        ...

    def size(self, key: str) -> int:
        """Return the artifact's size in bytes; NotFound if it does not exist."""
        ...

    def delete(self, key: str) -> None:
        """Remove the artifact; a missing key is not an error."""
        ...

    def delete_prefix(self, prefix: str) -> int:
        """Remove every artifact under `prefix` and return how many were removed."""
        ...

    def list(self, prefix: str) -> list[str]:
        """Return the keys under `prefix`, recursively, sorted."""
        ...

    def local_path(self, key: str) -> Path | None:
        """Return the artifact's real local path if the backend has one, else None."""
        ...

    def check(self) -> None:
        """Raise Unavailable if the store cannot be reached; cheap enough for /readyz."""
        ...

    def cleanup_temp(self, older_than_s: float = 3600) -> int:
        """Remove unfinished writes older than `older_than_s`; return how many."""
        ...


def validate_key(key: str, *, what: str = "artifact key") -> str:
    """Return `key` unchanged if it is a safe relative key, else raise InvalidInput."""
    if not isinstance(key, str) or not key:
        raise InvalidInput(f"{what} must be a non-empty string")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidInput(f"{what} is longer than {MAX_KEY_LENGTH} characters")
    if not all(_SEGMENT.fullmatch(segment) for segment in key.split("/")):
        shown = key if len(key) <= 80 else key[:77] + "..."
        raise InvalidInput(
            f"invalid {what} {shown!r}: use '/'-separated segments of letters, digits, "
            "'.', '_' and '-', not starting with '.'",
        )
    return key


def validate_prefix(prefix: str, *, allow_empty: bool = False) -> str:
    """Return `prefix` without its trailing '/' if it is a valid key prefix, else InvalidInput."""
    if prefix == "" and allow_empty:
        return ""
    if len(prefix) > 1:
        prefix = prefix.removesuffix("/")
    return validate_key(prefix, what="artifact key prefix")


def generate_key(prefix: str) -> str:
    """Return `prefix/<random hex>`: keys never derive from user-supplied names."""
    return validate_key(f"{validate_prefix(prefix)}/{uuid.uuid4().hex}")


def iter_chunks(stream: BinaryIO | Iterable[bytes]) -> Iterator[bytes]:
    """Yield a file-like object in CHUNK_SIZE pieces, or an iterable's chunks as they come."""
    if isinstance(stream, bytes | bytearray | memoryview):
        # Iterating bytes yields ints; a caller holding bytes wants put_bytes.
        raise TypeError("put_stream takes a binary file or an iterable of bytes; use put_bytes")
    read = getattr(stream, "read", None)
    if callable(read):
        while chunk := read(CHUNK_SIZE):
            yield chunk
    else:
        for chunk in stream:
            if chunk:
                yield chunk


def copy_stream(
    stream: BinaryIO | Iterable[bytes],
    write: Callable[[bytes], object],
    *,
    max_bytes: int | None = None,
) -> tuple[int, str]:
    """Feed `stream` to `write`, returning (size, sha256 hex); TooLarge once past max_bytes."""
    digest = hashlib.sha256()
    size = 0
    for chunk in iter_chunks(stream):
        size += len(chunk)
        # Checked before the write so an oversized upload never reaches the backend.
        if max_bytes is not None and size > max_bytes:
            raise TooLarge(
                f"artifact is larger than the limit of {max_bytes} bytes",
                details={"max_bytes": max_bytes},
            )
        digest.update(chunk)
        write(chunk)
    return size, digest.hexdigest()
