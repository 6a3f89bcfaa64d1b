"""Where a browser may be sent after logging in."""

from __future__ import annotations


def safe_next(target: str | None) -> str:
    """A same-site relative path, or "/": an absolute or scheme-relative URL is an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
