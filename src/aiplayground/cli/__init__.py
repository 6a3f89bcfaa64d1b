"""The `aiplayground` command line."""

from __future__ import annotations

from aiplayground.cli.main import app


def main() -> None:
    """Entry point of the console script."""
    app()


__all__ = ["app", "main"]
