"""`aiplayground models ...` and `aiplayground datasets ...`: the catalog from the shell."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from aiplayground.cli.common import (
    DEFAULT_URL,
    JsonOption,
    TokenOption,
    UrlOption,
    connect,
    print_json,
    reporting_errors,
    table,
)
from aiplayground.errors import PlaygroundError

models_app = typer.Typer(help="Models in the catalog.", no_args_is_help=True)
datasets_app = typer.Typer(help="Datasets in the catalog.", no_args_is_help=True)

MODEL_COLUMNS = ["name", "format", "objective", "latest_version", "visibility", "owner", "title"]
DATASET_COLUMNS = ["name", "format", "latest_version", "visibility", "owner", "title"]


def _metadata(raw: str | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    text = Path(raw[1:]).read_text() if raw.startswith("@") else raw
    value = json.loads(text)
    if not isinstance(value, dict):
        raise typer.BadParameter("metadata must be a JSON object")
    return value


@models_app.command("list")
def models_list(
    q: Annotated[str | None, typer.Option(help="Search name and description.")] = None,
    objective: Annotated[str | None, typer.Option(help="Filter by objective.")] = None,
    format: Annotated[str | None, typer.Option(help="Filter by format.")] = None,
    tag: Annotated[str | None, typer.Option(help="Filter by tag.")] = None,
    limit: Annotated[int, typer.Option(help="Page size.")] = 50,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the models you can see."""
    with reporting_errors(), connect(url, token) as client:
        page = client.list_models(q=q, objective=objective, format=format, tag=tag, limit=limit)
    if as_json:
        print_json(page)
    else:
        table(page["items"], MODEL_COLUMNS)


@models_app.command("show")
def models_show(
    name: str,
    version: Annotated[int | None, typer.Option(help="Show this version.")] = None,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Show a model (or one version) as JSON."""
    with reporting_errors(), connect(url, token) as client:
        print_json(client.get_model_version(name, version) if version else client.get_model(name))


@models_app.command("upload")
def models_upload(
    name: str,
    files: Annotated[list[Path], typer.Argument(help="Files of the version.", exists=True)],
    format: Annotated[
        str | None, typer.Option(help="Create the model with this format if it is missing.")
    ] = None,
    objective: Annotated[str, typer.Option(help="Objective for a created model.")] = "other",
    metadata: Annotated[
        str | None, typer.Option(help="Version metadata as JSON, or @file.json.")
    ] = None,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Upload files as a new version of a model (creating the model with --format)."""
    with reporting_errors(), connect(url, token) as client:
        if format:
            try:
                client.get_model(name)
            except PlaygroundError as exc:
                if exc.code != "not_found":
                    raise
                client.create_model(name, format, objective=objective)
        version = client.upload_model_version(name, list(files), _metadata(metadata))
    typer.echo(f"uploaded {name} version {version['version']}")


@models_app.command("register-endpoint")
def models_register_endpoint(
    name: str,
    endpoint_url: Annotated[str, typer.Argument(help="Base URL of the remote server.")],
    protocol: Annotated[str, typer.Option(help="kserve-v1, kserve-v2 or openai.")] = "kserve-v2",
    remote_name: Annotated[str | None, typer.Option(help="Model name on the remote.")] = None,
    api_key: Annotated[
        str | None, typer.Option(envvar="AIP_ENDPOINT_API_KEY", help="Remote API key.")
    ] = None,
    objective: Annotated[str, typer.Option(help="Objective.")] = "other",
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Register a remote KServe or OpenAI-compatible endpoint as a catalog model."""
    with reporting_errors(), connect(url, token) as client:
        client.register_endpoint(
            name,
            endpoint_url,
            protocol,
            remote_name=remote_name,
            api_key=api_key,
            objective=objective,
        )
    typer.echo(f"registered {name} -> {endpoint_url} ({protocol})")


@models_app.command("delete")
def models_delete(
    name: str,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Delete a model with all its versions and files."""
    if not yes:
        typer.confirm(f"Delete model {name!r} and all its files?", abort=True)
    with reporting_errors(), connect(url, token) as client:
        client.delete_model(name)
    typer.echo(f"deleted {name}")


@datasets_app.command("list")
def datasets_list(
    q: Annotated[str | None, typer.Option(help="Search name and description.")] = None,
    format: Annotated[str | None, typer.Option(help="Filter by format.")] = None,
    tag: Annotated[str | None, typer.Option(help="Filter by tag.")] = None,
    limit: Annotated[int, typer.Option(help="Page size.")] = 50,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the datasets you can see."""
    with reporting_errors(), connect(url, token) as client:
        page = client.list_datasets(q=q, format=format, tag=tag, limit=limit)
    if as_json:
        print_json(page)
    else:
        table(page["items"], DATASET_COLUMNS)


@datasets_app.command("show")
def datasets_show(
    name: str,
    version: Annotated[int | None, typer.Option(help="Show this version.")] = None,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Show a dataset (or one version, with schema and preview) as JSON."""
    with reporting_errors(), connect(url, token) as client:
        print_json(
            client.get_dataset_version(name, version) if version else client.get_dataset(name)
        )


@datasets_app.command("upload")
def datasets_upload(
    name: str,
    files: Annotated[list[Path], typer.Argument(help="Files of the version.", exists=True)],
    format: Annotated[
        str | None, typer.Option(help="Create the dataset with this format if it is missing.")
    ] = None,
    description: Annotated[str, typer.Option(help="Version description.")] = "",
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Upload files as a new version of a dataset (creating it with --format)."""
    with reporting_errors(), connect(url, token) as client:
        if format:
            try:
                client.get_dataset(name)
            except PlaygroundError as exc:
                if exc.code != "not_found":
                    raise
                client.create_dataset(name, format)
        meta = {"description": description} if description else None
        version = client.upload_dataset_version(name, list(files), meta)
    typer.echo(f"uploaded {name} version {version['version']}")


@datasets_app.command("register-remote")
def datasets_register_remote(
    name: str,
    urls: Annotated[
        list[str], typer.Argument(help="root://host[:port]//path or https://host/path URLs.")
    ],
    create: Annotated[
        bool, typer.Option("--create", help="Create the ROOT dataset if it is missing.")
    ] = False,
    description: Annotated[str, typer.Option(help="Version description.")] = "",
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Register remote ROOT files as a new version of a dataset (checked, not copied)."""
    with reporting_errors(), connect(url, token) as client:
        if create:
            try:
                client.get_dataset(name)
            except PlaygroundError as exc:
                if exc.code != "not_found":
                    raise
                client.create_dataset(name, "root")
        version = client.add_remote_dataset_version(name, urls, description)
    typer.echo(f"registered {name} version {version['version']}: {len(urls)} remote file(s)")
    for item in version["files"]:
        typer.echo(f"  {item['path']}  {item['size']} bytes  {item['url']}")


@datasets_app.command("delete")
def datasets_delete(
    name: str,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Delete a dataset with all its versions and files."""
    if not yes:
        typer.confirm(f"Delete dataset {name!r} and all its files?", abort=True)
    with reporting_errors(), connect(url, token) as client:
        client.delete_dataset(name)
    typer.echo(f"deleted {name}")
