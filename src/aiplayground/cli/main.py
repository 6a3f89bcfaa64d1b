"""Top-level commands: serve, version, admin; later capabilities add their groups."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from aiplayground import __version__
from aiplayground.cli.admin import admin_app
from aiplayground.cli.catalog import datasets_app, models_app
from aiplayground.cli.chat import chat as chat_command
from aiplayground.cli.hep import hep_app
from aiplayground.cli.infer import infer as infer_command
from aiplayground.cli.kb import kb_app
from aiplayground.cli.train import spawn_workers, stop_workers, train_app, worker

app = typer.Typer(
    name="aiplayground",
    help="AI Playground: a self-hostable machine-learning platform.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(admin_app, name="admin")
app.add_typer(models_app, name="models")
app.add_typer(datasets_app, name="datasets")
app.command("infer")(infer_command)
app.command("chat")(chat_command)
app.add_typer(train_app, name="train")
app.command("worker")(worker)
app.add_typer(kb_app, name="kb")
app.add_typer(hep_app, name="hep")


@app.command()
def version() -> None:
    """Print the installed version."""
    typer.echo(__version__)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default: settings).")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port (default: settings).")] = None,
    demo: Annotated[
        bool | None, typer.Option("--demo/--no-demo", help="Load demo catalog entries.")
    ] = None,
    workers: Annotated[
        int, typer.Option(min=0, help="Training workers to start beside the server.")
    ] = 0,
) -> None:
    """Serve the web UI, REST API and inference routes."""
    import uvicorn

    from aiplayground.app import build_platform, create_app
    from aiplayground.logs import configure_logging
    from aiplayground.settings import load_settings

    overrides: dict[str, Any] = {}
    settings = load_settings()
    server = settings.server.model_copy(
        update={k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    )
    overrides["server"] = server
    if demo is not None:
        overrides["demo"] = demo
    settings = settings.model_copy(update=overrides)
    configure_logging(settings.log_level, json=settings.log_json)
    platform = build_platform(settings)
    asgi = create_app(settings, platform)

    class DrainingServer(uvicorn.Server):
        # Readiness drops before connections close, so a load balancer stops sending first.
        def handle_exit(self, sig: int, frame: Any) -> None:
            platform.draining = True
            super().handle_exit(sig, frame)

    config = uvicorn.Config(
        asgi,
        host=settings.server.host,
        port=settings.server.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=30,
        proxy_headers=False,
    )
    training_workers = spawn_workers(workers)
    try:
        DrainingServer(config).run()
    finally:
        stop_workers(training_workers)
