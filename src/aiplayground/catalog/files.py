"""Incoming files: client-given names become safe relative paths, never storage keys."""

from __future__ import annotations

import posixpath
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from aiplayground.errors import ValidationFailed

MAX_PATH_LENGTH = 1024
MAX_SEGMENT_LENGTH = 255


@dataclass(frozen=True)
class IncomingFile:
    """A file staged on local disk by the caller (an upload, an extracted archive member)."""

    name: str
    path: Path


def safe_relative_path(name: str) -> str:
    """Turn a client-given file name into a clean relative path inside a version.

    The result is only a label and a layout for materializing a model folder: artifacts are
    stored under server-generated keys whatever the name says.
    """
    cleaned = "".join(
        ch for ch in name.replace("\\", "/") if ch != "\x00" and unicodedata.category(ch) != "Cc"
    )
    parts = []
    for part in posixpath.normpath("/" + cleaned).split("/"):
        if part in ("", ".", ".."):
            continue
        parts.append(part[:MAX_SEGMENT_LENGTH])
    path = "/".join(parts)[:MAX_PATH_LENGTH].strip("/")
    return path or "file"


def unique_paths(files: list[IncomingFile]) -> list[tuple[str, IncomingFile]]:
    """Pair each file with its safe path; two files landing on one path is an error."""
    seen: dict[str, str] = {}
    paired = []
    for item in files:
        path = safe_relative_path(item.name)
        if path in seen:
            raise ValidationFailed(
                f"two files map to the same path {path!r} ({seen[path]!r} and {item.name!r})",
                details={"field": "file"},
            )
        seen[path] = item.name
        paired.append((path, item))
    return paired
