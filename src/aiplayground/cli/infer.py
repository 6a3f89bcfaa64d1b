"""`aiplayground infer MODEL --data FILE|JSON`: predictions from the shell."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from aiplayground.cli.common import (
    DEFAULT_URL,
    TokenOption,
    UrlOption,
    connect,
    print_json,
    reporting_errors,
)

TABLE_SUFFIXES = (".csv", ".parquet", ".pq")


def read_data(data: str) -> Any:
    """JSON text, a .json file, or a CSV/Parquet table (its rows become instances)."""
    text = data.strip()
    if text.startswith(("{", "[")):
        return _parse(text, "--data")
    path = Path(data[1:] if data.startswith("@") else data).expanduser()
    if not path.is_file():
        raise typer.BadParameter(f"{data!r} is neither JSON nor a file", param_hint="--data")
    if path.suffix.lower() in TABLE_SUFFIXES:
        import pandas as pd

        frame = pd.read_csv(path) if path.suffix.lower() == ".csv" else pd.read_parquet(path)
        return frame.to_numpy()
    return _parse(path.read_text(encoding="utf-8"), str(path))


def _parse(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"{where} is not valid JSON: {exc}", param_hint="--data") from None


def infer(
    model: Annotated[str, typer.Argument(help="Catalog model name.")],
    data: Annotated[
        str,
        typer.Option(
            "--data",
            "-d",
            help="A request body or rows as JSON, or a file: .json, .csv, .parquet "
            "(table rows become instances).",
        ),
    ],
    protocol: Annotated[str, typer.Option(help="v1 (KServe) or v2 (Open Inference).")] = "v2",
    version: Annotated[str | None, typer.Option(help="Version number or alias (v2 only).")] = None,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Send events to a model and print its predictions as JSON."""
    if protocol not in ("v1", "v2"):
        raise typer.BadParameter("use v1 or v2", param_hint="--protocol")
    payload = read_data(data)
    with reporting_errors(), connect(url, token) as client:
        result = client.infer(model, payload, protocol=protocol, version=version)
    print_json(result)
