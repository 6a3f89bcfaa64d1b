"""Artifact storage: one `ArtifactStore` interface, one module per backend, chosen by URL."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import SplitResult, urlsplit
from urllib.request import url2pathname

from aiplayground.errors import InvalidInput
from aiplayground.settings import StorageSettings
from aiplayground.storage.base import ArtifactInfo, ArtifactStore
from aiplayground.storage.file import FileArtifactStore

__all__ = ["ArtifactInfo", "ArtifactStore", "FileArtifactStore", "open_artifact_store"]


def _open_file(url: SplitResult, settings: StorageSettings) -> ArtifactStore:
    if url.netloc not in ("", "localhost") or not url.path:
        raise InvalidInput("a file artifact store URL looks like file:///absolute/path")
    return FileArtifactStore(url2pathname(url.path))


def _open_s3(url: SplitResult, settings: StorageSettings) -> ArtifactStore:
    # Imported here so that only deployments storing on S3 load s3fs and aiobotocore.
    from aiplayground.storage.s3 import S3ArtifactStore

    return S3ArtifactStore(url.netloc, url.path.strip("/"), settings=settings)


_OPENERS: dict[str, Callable[[SplitResult, StorageSettings], ArtifactStore]] = {
    "file": _open_file,
    "s3": _open_s3,
}


def open_artifact_store(url: str, settings: StorageSettings | None = None) -> ArtifactStore:
    """Open the artifact store a URL names (file:///path or s3://bucket/prefix)."""
    parts = urlsplit(url)
    opener = _OPENERS.get(parts.scheme)
    if opener is None:
        # The URL itself is left out of the message: it may carry credentials.
        raise InvalidInput(
            f"unknown artifact store scheme {parts.scheme!r}; "
            f"known schemes: {', '.join(sorted(_OPENERS))}",
        )
    return opener(parts, settings or StorageSettings())
