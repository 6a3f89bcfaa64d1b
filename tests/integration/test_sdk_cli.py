"""The SDK and the CLI against a real app (in-process) and a real data folder."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import skops.io
from fastapi import FastAPI
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

from aiplayground import errors
from aiplayground.cli import app as cli_app
from aiplayground.sdk import Client
from tests.inprocess import InProcessTransport


@pytest.fixture
def sdk(app: FastAPI, alice_token: str) -> Iterator[Client]:
    transport = InProcessTransport(app)
    with Client("http://testserver", alice_token, transport=transport) as client:
        yield client
    transport.close()


def test_sdk_accounts(sdk: Client, app: FastAPI) -> None:
    assert sdk.me()["user"]["name"] == "alice"
    new = sdk.create_token("script", scopes=["read"])
    assert new["token"].startswith("aip_")
    assert {t["name"] for t in sdk.list_tokens()} == {"test", "script"}
    sdk.revoke_token(new["info"]["id"])
    with (
        Client("http://testserver", new["token"], transport=InProcessTransport(app)) as revoked,
        pytest.raises(errors.Unauthenticated),
    ):
        revoked.me()
    with pytest.raises(errors.PermissionDenied):
        sdk.list_users()


def test_sdk_catalog_round_trip(sdk: Client, tmp_path: Path) -> None:
    x, y = load_iris(return_X_y=True)
    path = tmp_path / "model.skops"
    skops.io.dump(LogisticRegression(max_iter=300).fit(x, y), path)
    sdk.create_model("iris", "sklearn", objective="classification", tags=["t"])
    version = sdk.upload_model_version("iris", [path], {"metrics": {"accuracy": 0.9}})
    assert version["version"] == 1
    assert version["metrics"] == {"accuracy": 0.9}
    assert sdk.list_models(tag="t")["total"] == 1
    copy = sdk.download_model_file("iris", 1, "model.skops", tmp_path / "copy.skops")
    assert copy.read_bytes() == path.read_bytes()
    with pytest.raises(errors.Conflict):
        sdk.create_model("iris", "sklearn")
    with pytest.raises(errors.NotFound):
        sdk.get_model("nope")
    sdk.delete_model("iris")
    assert sdk.list_models()["total"] == 0


def test_admin_create_token_prints_a_working_token(tmp_path: Path) -> None:
    env = {"AIP_HOME": str(tmp_path / "home"), "AIP_DEMO": "false"}
    runner = CliRunner()
    result = runner.invoke(
        cli_app,
        ["admin", "create-token", "--user", "ci", "--create-user", "--role", "admin"],
        env=env,
    )
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[-1]
    assert token.startswith("aip_")
    missing = runner.invoke(cli_app, ["admin", "create-token", "--user", "ghost"], env=env)
    assert missing.exit_code == 1
    assert "--create-user" in missing.stderr


def test_console_script_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "aiplayground", "version"],
        capture_output=True,
        text=True,
        check=True,
    )
    from aiplayground import __version__

    assert done.stdout.strip() == __version__


def test_cli_without_token_explains(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli_app, ["models", "list"], env={"AIP_TOKEN": ""})
    assert result.exit_code == 2
    assert "AIP_TOKEN" in result.stderr
