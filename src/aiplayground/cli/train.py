"""`aiplayground train ...` (jobs over HTTP) and `aiplayground worker` (runs jobs locally)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import FrameType
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

train_app = typer.Typer(
    help="Training jobs and hyper-parameter searches: submit, follow, cancel, delete.",
    no_args_is_help=True,
)

JOB_COLUMNS = ["id", "recipe", "status", "model", "model_version", "attempts", "created_at"]
TRIAL_COLUMNS = ["number", "state", "value", "params", "job_id", "job_status", "model_version"]


def _value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw  # a bare word: a string


def _params(pairs: list[str], raw: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if raw is not None:
        text = Path(raw[1:]).read_text() if raw.startswith("@") else raw
        loaded = json.loads(text)
        if not isinstance(loaded, dict):
            raise typer.BadParameter("--params must be a JSON object")
        params.update(loaded)
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"--param takes KEY=VALUE, not {pair!r}")
        params[key] = _value(value)
    return params


@train_app.command("recipes")
def recipes(url: UrlOption = DEFAULT_URL, token: TokenOption = None) -> None:
    """List the recipes with their parameters."""
    with reporting_errors(), connect(url, token) as client:
        items = client.list_recipes()
    for recipe in items:
        names = ", ".join(recipe["params_schema"].get("properties", {}))
        typer.echo(f"{recipe['name']}: {recipe['title']}\n  params: {names}")


@train_app.command("submit")
def submit(
    recipe: Annotated[str, typer.Argument(help="Recipe name (see `train recipes`).")],
    model: Annotated[str, typer.Option(help="Catalog model that receives the result.")],
    dataset: Annotated[str | None, typer.Option(help="Catalog dataset to train on.")] = None,
    dataset_version: Annotated[int | None, typer.Option(help="Default: the latest.")] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="KEY=VALUE (JSON values parse).")
    ] = None,
    params: Annotated[str | None, typer.Option(help="Parameters as JSON, or @file.")] = None,
    processes: Annotated[int, typer.Option(help="Processes (DDP ranks).")] = 1,
    cpus: Annotated[int | None, typer.Option(help="CPU threads per process.")] = None,
    gpus: Annotated[int, typer.Option(help="GPUs per process.")] = 0,
    time_limit: Annotated[float | None, typer.Option(help="Seconds per attempt.")] = None,
    executor: Annotated[str | None, typer.Option(help="local, torchrun or kubernetes.")] = None,
    follow: Annotated[bool, typer.Option(help="Print the log until the job ends.")] = False,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Queue a training job and print its id."""
    resources: dict[str, Any] = {"processes": processes, "gpus": gpus}
    if cpus is not None:
        resources["cpus"] = cpus
    if time_limit is not None:
        resources["time_limit_s"] = time_limit
    with reporting_errors(), connect(url, token) as client:
        job = client.submit_job(
            recipe,
            model=model,
            dataset=dataset,
            dataset_version=dataset_version,
            params=_params(param or [], params),
            resources=resources,
            executor=executor,
        )
        if as_json:
            print_json(job)
        else:
            typer.echo(job["id"])
        if follow:
            _follow(client, job["id"])


@train_app.command("list")
def list_jobs(
    status: Annotated[str | None, typer.Option(help="Only jobs in this status.")] = None,
    parent: Annotated[
        str | None, typer.Option(help="Only the child jobs of this job (a search's trials).")
    ] = None,
    limit: Annotated[int, typer.Option(help="Page size.")] = 50,
    everyone: Annotated[bool, typer.Option("--all", help="Every user's jobs (admins).")] = False,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """List your jobs, newest first."""
    with reporting_errors(), connect(url, token) as client:
        page = client.list_jobs(status=status, parent=parent, limit=limit, everyone=everyone)
    if as_json:
        print_json(page)
    else:
        table(page["items"], JOB_COLUMNS)


@train_app.command("status")
def status(job_id: str, url: UrlOption = DEFAULT_URL, token: TokenOption = None) -> None:
    """Show a job as JSON."""
    with reporting_errors(), connect(url, token) as client:
        print_json(client.get_job(job_id))


@train_app.command("logs")
def logs(
    job_id: str,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Until the job ends.")] = False,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Print a job's log."""
    with reporting_errors(), connect(url, token) as client:
        if follow:
            _follow(client, job_id)
        else:
            typer.echo(client.job_logs(job_id), nl=False)


@train_app.command("cancel")
def cancel(job_id: str, url: UrlOption = DEFAULT_URL, token: TokenOption = None) -> None:
    """Cancel a job."""
    with reporting_errors(), connect(url, token) as client:
        job = client.cancel_job(job_id)
    typer.echo(f"{job['id']}: {job['status']}" + (" (stopping)" if job["cancel_requested"] else ""))


@train_app.command("trials")
def trials(
    job_id: Annotated[str, typer.Argument(help="A search job (recipe hpo).")],
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show the trials of a hyper-parameter search, and its best trial."""
    with reporting_errors(), connect(url, token) as client:
        result = client.trials(job_id)
    if as_json:
        print_json(result)
        return
    rows = [
        {**item, "params": json.dumps(item["params"], separators=(",", ":"))}
        for item in result["items"]
    ]
    table(rows, TRIAL_COLUMNS)
    best = result["best"]
    if best is not None:
        typer.echo(
            f"best: trial {best['number']}, {result['metric']} {best['value']:.6g} "
            f"({result['direction']}), job {best['job_id']}, "
            f"params {json.dumps(best['params'], separators=(',', ':'))}"
        )


@train_app.command("delete")
def delete(job_id: str, url: UrlOption = DEFAULT_URL, token: TokenOption = None) -> None:
    """Delete an ended job, its logs and files (a search: with its trials)."""
    with reporting_errors(), connect(url, token) as client:
        client.delete_job(job_id)
    typer.echo(f"{job_id}: deleted")


def _follow(client: Any, job_id: str) -> None:
    for chunk in client.follow_job_logs(job_id):
        typer.echo(chunk, nl=False)
    job = client.get_job(job_id)
    typer.echo(f"\njob {job_id} {job['status']}" + (f": {job['reason']}" if job["reason"] else ""))
    if job["status"] != "succeeded":
        raise typer.Exit(1)


def worker(
    slots: Annotated[
        int | None, typer.Option(help="Jobs run at once (default: AIP_TRAINING__SLOTS).")
    ] = None,
    parent: Annotated[
        int | None, typer.Option(hidden=True, help="Stop when this process (a server) ends.")
    ] = None,
) -> None:
    """Run a training worker on this machine, against the platform's database."""
    from aiplayground.app import build_platform
    from aiplayground.logs import configure_logging
    from aiplayground.settings import load_settings
    from aiplayground.training.worker import Worker

    settings = load_settings()
    configure_logging(settings.log_level, json=settings.log_json)
    platform = build_platform(settings)
    _migrate(platform.db.engine)
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    if parent is not None:
        threading.Thread(target=_stop_with, args=(parent, stop), daemon=True).start()
    try:
        Worker(platform, slots=slots).run(stop)
    finally:
        platform.close()


def _stop_with(parent: int, stop: threading.Event) -> None:
    # The server may end without running its own cleanup (uvicorn re-raises the signal
    # that stopped it): a worker it started notices it was orphaned and stops itself.
    while os.getppid() == parent and not stop.wait(1.0):
        pass
    stop.set()


def _migrate(engine: Any, tries: int = 30) -> None:
    from sqlalchemy.exc import SQLAlchemyError

    from aiplayground.store.migrate import migrate

    # A server starting beside this worker may be migrating the same fresh database.
    for attempt in range(tries):
        try:
            migrate(engine)
            return
        except SQLAlchemyError:
            if attempt == tries - 1:
                raise
            time.sleep(1.0)


def spawn_workers(count: int) -> list[subprocess.Popen[bytes]]:
    """Start `count` worker processes beside a server (`serve --workers N`)."""
    command = [sys.executable, "-m", "aiplayground", "worker", "--parent", str(os.getpid())]
    return [subprocess.Popen(command, stdin=subprocess.DEVNULL) for _ in range(count)]


def stop_workers(processes: list[subprocess.Popen[bytes]], timeout: float = 30.0) -> None:
    """Stop worker processes: SIGTERM (they give their jobs back), SIGKILL after `timeout`."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + timeout
    for process in processes:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
