"""Artifacts as files in a local or mounted folder."""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from aiplayground.errors import Conflict, InvalidInput, NotFound, Unavailable
from aiplayground.storage.base import (
    ArtifactInfo,
    copy_stream,
    generate_key,
    validate_key,
    validate_prefix,
)

# Keys cannot name it: a key segment never starts with a dot.
TEMP_DIR = ".tmp"


class FileArtifactStore:
    """Artifacts under one root folder; writes land in `.tmp/` and are published by rename."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self._root = Path(root).expanduser().resolve()
        self._tmp = self._root / TEMP_DIR

    def __repr__(self) -> str:
        return f"FileArtifactStore({str(self._root)!r})"

    @property
    def root(self) -> Path:
        """The store's root folder, resolved."""
        return self._root

    def new_key(self, prefix: str) -> str:
        """Return a fresh server-generated key under `prefix`."""
        return generate_key(prefix)

    def put_stream(
        self,
        key: str,
        stream: BinaryIO | Iterable[bytes],
        *,
        max_bytes: int | None = None,
    ) -> ArtifactInfo:
        """Write a stream under `key` atomically, in constant memory; TooLarge past max_bytes."""
        path = self._path(key)
        self._tmp.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=self._tmp, suffix=".part")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                size, sha256 = copy_stream(stream, out.write, max_bytes=max_bytes)
                out.flush()
                # Without the fsync a crash right after the rename can publish an empty file.
                os.fsync(out.fileno())
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp, path)
            except (FileExistsError, NotADirectoryError, IsADirectoryError) as exc:
                # A folder cannot also be a file: "a" and "a/b" cannot both be keys here.
                raise Conflict(f"artifact key {key!r} collides with another key") from exc
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(path.parent)
        return ArtifactInfo(key=key, size=size, sha256=sha256)

    def put_bytes(self, key: str, data: bytes) -> ArtifactInfo:
        """Write `data` under `key` atomically."""
        return self.put_stream(key, io.BytesIO(data))

    def open(self, key: str) -> BinaryIO:
        """Open the artifact for reading; NotFound if it does not exist."""
        path = self._path(key)
        try:
            return path.open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise NotFound(f"artifact {key!r} does not exist") from exc

    def read_bytes(self, key: str) -> bytes:
        """Read the whole artifact; NotFound if it does not exist."""
        with self.open(key) as f:
            return f.read()

    def exists(self, key: str) -> bool:
        """Tell whether an artifact is stored under `key`."""
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        """Return the artifact's size in bytes; NotFound if it does not exist."""
        path = self._path(key)
        if not path.is_file():
            raise NotFound(f"artifact {key!r} does not exist")
        return path.stat().st_size

    def delete(self, key: str) -> None:
        """Remove the artifact; a missing key is not an error."""
        path = self._path(key)
        if path.is_file():
            path.unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> int:
        """Remove every artifact under `prefix` and return how many were removed."""
        keys = self.list(validate_prefix(prefix))
        folder = self._path(validate_prefix(prefix))
        if folder.is_dir():
            shutil.rmtree(folder)
        return len(keys)

    def list(self, prefix: str) -> list[str]:
        """Return the keys under `prefix`, recursively, sorted; '' lists the whole store."""
        prefix = validate_prefix(prefix, allow_empty=True)
        if prefix:
            self._path(prefix)  # refuses a prefix whose folder links outside the root
        top = self._root / prefix
        keys: list[str] = []
        # os.walk does not descend into symlinked folders, so listing stays inside the root.
        for dirpath, dirnames, filenames in os.walk(top):
            if dirpath == str(self._root) and TEMP_DIR in dirnames:
                dirnames.remove(TEMP_DIR)
            rel = Path(dirpath).relative_to(self._root).as_posix()
            keys.extend(name if rel == "." else f"{rel}/{name}" for name in filenames)
        return sorted(keys)

    def local_path(self, key: str) -> Path:
        """Return the artifact's real path, for memory-mapping; NotFound if missing."""
        path = self._path(key)
        if not path.is_file():
            raise NotFound(f"artifact {key!r} does not exist")
        return path

    def check(self) -> None:
        """Create the root folder if needed; Unavailable if it cannot be created or written."""
        try:
            self._root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise Unavailable(f"artifact folder {self._root} is not available: {exc}") from exc
        if not os.access(self._root, os.W_OK | os.X_OK):
            raise Unavailable(f"artifact folder {self._root} is not writable")

    def cleanup_temp(self, older_than_s: float = 3600) -> int:
        """Remove temp files left by killed writers, untouched for `older_than_s` seconds."""
        if not self._tmp.is_dir():
            return 0
        # A live writer touches its temp file with every chunk, so only stalled ones qualify.
        cutoff = time.time() - older_than_s
        removed = 0
        with os.scandir(self._tmp) as entries:
            for entry in entries:
                if (
                    entry.is_file(follow_symlinks=False)
                    and entry.stat(follow_symlinks=False).st_mtime <= cutoff
                ):
                    Path(entry.path).unlink(missing_ok=True)
                    removed += 1
        return removed

    def _path(self, key: str) -> Path:
        """Map a key to its resolved path, refusing any that escapes the root."""
        validate_key(key)
        path = (self._root / key).resolve()
        # Validation already refused '..' and absolute keys; this catches symlinks pointing out.
        if path == self._root or not path.is_relative_to(self._root):
            raise InvalidInput(f"artifact key {key!r} resolves outside the artifact store")
        return path


def _fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
