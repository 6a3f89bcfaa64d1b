"""Worker processes for tests: `aiplayground worker`, started the way an operator starts it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from aiplayground.settings import Settings
from tests.integration.training.conftest import REPO

WORKER = "import typer; from aiplayground.cli.train import worker; typer.run(worker)"


def worker_env(settings: Settings, database_url: str | None = None) -> dict[str, str]:
    """The environment of a worker sharing the test platform's data folder and database."""
    training = settings.training
    env = {
        **os.environ,
        "AIP_HOME": str(settings.resolved_home),
        "AIP_DATABASE_URL": database_url or settings.resolved_database_url,
        "AIP_DEMO": "false",
        "AIP_LOG_JSON": "false",
        "PYTHONPATH": str(REPO),
    }
    for name in (
        "poll_interval_s",
        "heartbeat_interval_s",
        "heartbeat_timeout_s",
        "cancel_grace_s",
        "max_concurrent_per_user",
        "slots",
    ):
        env[f"AIP_TRAINING__{name.upper()}"] = str(getattr(training, name))
    env["AIP_TRAINING__EXTRA_RECIPES"] = json.dumps(training.extra_recipes)
    return env


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A worker process, its output in `log`."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-c", WORKER], env=env, stdout=out, stderr=subprocess.STDOUT
        )
