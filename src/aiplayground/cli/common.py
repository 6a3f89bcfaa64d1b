"""What every client command shares: where the server is, the token, and output."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from aiplayground.errors import PlaygroundError
from aiplayground.sdk import Client

UrlOption = Annotated[
    str, typer.Option("--url", envvar="AIP_URL", help="Server URL.", show_default=True)
]
TokenOption = Annotated[
    str | None, typer.Option("--token", envvar="AIP_TOKEN", help="API token (or AIP_TOKEN).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print raw JSON.")]
DEFAULT_URL = "http://127.0.0.1:8000"


def connect(url: str, token: str | None) -> Client:
    """A client for the server, failing with a hint when no token is set."""
    if not token:
        typer.echo(
            "no API token: pass --token or set AIP_TOKEN "
            "(create one in Settings or with `aiplayground admin create-token`)",
            err=True,
        )
        raise typer.Exit(2)
    return Client(url, token)


@contextmanager
def reporting_errors() -> Iterator[None]:
    """End the command on a platform error: its code and message on stderr, exit status 1."""
    try:
        yield
    except PlaygroundError as exc:
        raise fail(exc) from None


def print_json(data: Any) -> None:
    """Print data as indented JSON."""
    typer.echo(json.dumps(data, indent=2, default=str))


def fail(exc: PlaygroundError) -> typer.Exit:
    """Report a platform error on stderr; returns the exit to raise."""
    typer.echo(f"error ({exc.code}): {exc.message}", err=True)
    return typer.Exit(1)


def table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    """Print rows as an aligned text table."""
    cells = [
        [str(row.get(c, "")) if row.get(c) is not None else "" for c in columns] for row in rows
    ]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    typer.echo("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)))
    for r in cells:
        typer.echo("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)))
