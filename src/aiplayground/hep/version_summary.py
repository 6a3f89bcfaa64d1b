"""ROOT summaries of a stored dataset version, for the dataset page (and any other door).

A stored version never changes, so summaries are cached by file content (sha256) and tree;
the bound keeps the cache from growing without end. The summary itself is
`reader.summarize` (chunked), run on a local copy because the artifact store may be remote
(S3); files of remote versions (root://, https://) are read where they are. Everything
here blocks: callers run it off the event loop.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiplayground.errors import InvalidInput

if TYPE_CHECKING:
    from aiplayground.app import Platform
    from aiplayground.auth.principal import Principal

MAX_CACHED = 64

_cache: OrderedDict[tuple[str, str | None], dict[str, Any]] = OrderedDict()
_lock = threading.Lock()


def root_files(platform: Platform, caller: Principal, name: str, version: int) -> list[Any]:
    """The `.root` files of a dataset version (a NotFound if the caller cannot see it)."""
    entries = platform.datasets.stored_files(caller, name, version)
    return [e for e in entries if e.path.lower().endswith(".root")]


def summarize_version(
    platform: Platform, caller: Principal, name: str, version: int, tree: str | None = None
) -> dict[str, Any]:
    """Per file: trees (kind, entries), branches (type, jagged) and their summaries."""
    roots = root_files(platform, caller, name, version)
    if not roots:
        raise InvalidInput(f"dataset {name!r} version {version} has no .root file")
    files = []
    for entry in roots:
        key = (entry.content_id, tree)  # remote files have no sha256
        with _lock:
            summary = _cache.get(key)
        if summary is None:
            summary = _summarize(platform, caller, name, version, entry, tree)
            with _lock:
                _cache[key] = summary
                while len(_cache) > MAX_CACHED:
                    _cache.popitem(last=False)
        files.append({"path": entry.path, "size": entry.size, **summary})
    return {"dataset": name, "version": version, "files": files}


def _summarize(
    platform: Platform, caller: Principal, name: str, version: int, entry: Any, tree: str | None
) -> dict[str, Any]:
    from aiplayground.hep.reader import summarize

    if entry.url:
        # A remote file: read remotely, only the branches summarized (through the policy).
        return summarize(entry.url, tree, remote=platform.datasets.remote)
    with tempfile.TemporaryDirectory(dir=platform.staging) as folder:
        local = Path(folder) / "data.root"
        stream, _ = platform.datasets.open_file(caller, name, version, entry.path)
        with stream, local.open("wb") as sink:
            shutil.copyfileobj(stream, sink, 1024 * 1024)
        return summarize(local, tree)
