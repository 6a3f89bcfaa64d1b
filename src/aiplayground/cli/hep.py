"""`aiplayground hep`: ROOT summaries, predictions on ROOT files, the demo classifier."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from aiplayground.cli.common import (
    DEFAULT_URL,
    TokenOption,
    UrlOption,
    connect,
    fail,
    print_json,
    reporting_errors,
)
from aiplayground.errors import PlaygroundError

hep_app = typer.Typer(help="HEP data: ROOT files and jagged arrays.", no_args_is_help=True)
OUT_SUFFIXES = (".csv", ".parquet", ".root")


@hep_app.command("summary")
def summary(
    dataset: Annotated[str, typer.Argument(help="Catalog dataset name.")],
    version: Annotated[int | None, typer.Option(help="Version (default: latest).")] = None,
    tree: Annotated[str | None, typer.Option(help="Only this tree.")] = None,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Print the trees, branches and per-branch summaries of a ROOT dataset as JSON."""
    with reporting_errors(), connect(url, token) as client:
        number = version or client.json("GET", f"/api/v1/datasets/{dataset}")["latest_version"]
        print_json(client.root_summary(dataset, int(number), tree))


@hep_app.command("predict")
def predict(
    model: Annotated[str, typer.Argument(help="Catalog model with a stored preprocessing.")],
    file: Annotated[Path, typer.Argument(help="A local ROOT file.", exists=True, dir_okay=False)],
    tree: Annotated[str | None, typer.Option(help="Tree (default: the preprocessing's).")] = None,
    out: Annotated[
        Path | None, typer.Option(help="Write predictions to .csv, .parquet or .root.")
    ] = None,
    version: Annotated[str | None, typer.Option(help="Version number or alias.")] = None,
    probabilities: Annotated[
        bool, typer.Option("--probabilities", help="Class probabilities (predict_proba).")
    ] = False,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Per-event predictions of MODEL for the events of FILE."""
    if out is not None and out.suffix.lower() not in OUT_SUFFIXES:
        raise typer.BadParameter(f"use one of {OUT_SUFFIXES}", param_hint="--out")
    from aiplayground.inference.runtimes import PROBA_OUTPUT

    with reporting_errors(), connect(url, token) as client:
        result = client.predict_root(
            model,
            file,
            tree=tree,
            version=version,
            out=out,
            output=PROBA_OUTPUT if probabilities else None,
        )
    if isinstance(result, Path):
        typer.echo(f"wrote {result}")
    else:
        print_json(result)


@hep_app.command("train-demo")
def train_demo() -> None:
    """Train the HZZ-vs-Zmumu demo classifier and register it (local data folder)."""
    from aiplayground.auth.principal import Principal, Role
    from aiplayground.cli.admin import open_platform
    from aiplayground.hep.demo import MODEL_NAME, load_hep_demo

    platform = open_platform()
    admin = platform.auth.first_admin()
    if admin is None:
        typer.echo("no admin user yet: start the server once or create one", err=True)
        raise typer.Exit(1)
    owner = Principal(user_id=admin.id, name=admin.name, role=Role.ADMIN)
    try:
        load_hep_demo(platform, owner)
    except PlaygroundError as exc:
        raise fail(exc) from None
    version = platform.models.resolve(owner, MODEL_NAME, None)[1]
    typer.echo(f"registered {MODEL_NAME} version {version.version if version else '?'}")
    if version is not None:
        print_json(version.metrics)
