"""A model version's files as one local folder, which is what model libraries load from."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path, PurePosixPath

from aiplayground.catalog.schemas import FileEntry
from aiplayground.errors import InvalidInput
from aiplayground.storage import ArtifactStore

CHUNK = 1024 * 1024


def _relative(path: str) -> PurePosixPath:
    pure = PurePosixPath(path)
    if not path or "\\" in path or pure.is_absolute() or ".." in pure.parts or "\0" in path:
        raise InvalidInput(f"unsafe file path {path!r} in a model version")
    return pure


def materialize(storage: ArtifactStore, files: list[FileEntry], folder: Path) -> Path:
    """Lay the files out under `folder` (once: an existing folder is reused), return it."""
    if folder.is_dir():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = folder.parent / f".tmp-{uuid.uuid4().hex}"
    try:
        for entry in files:
            target = staging / _relative(entry.path)
            if not target.resolve().is_relative_to(staging.resolve()):
                raise InvalidInput(f"unsafe file path {entry.path!r} in a model version")
            target.parent.mkdir(parents=True, exist_ok=True)
            local = storage.local_path(entry.key)
            if local is not None:
                try:
                    os.link(local, target)  # same disk: no copy
                except OSError:
                    shutil.copyfile(local, target)
            else:
                with storage.open(entry.key) as source, target.open("wb") as out:
                    shutil.copyfileobj(source, out, CHUNK)
        try:
            staging.rename(folder)
        except OSError:
            if not folder.is_dir():  # not a concurrent loader that finished first
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder
