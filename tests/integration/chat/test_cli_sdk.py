"""The SDK's chat calls and `aiplayground chat` against a live server."""

from __future__ import annotations

import re
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from aiplayground.cli import chat as chat_cli
from aiplayground.sdk import Client
from aiplayground.sdk.chat import ChatMixin
from tests.integration.chat.conftest import MODEL, Live


class ChatClient(Client, ChatMixin):
    """The SDK client with the chat calls (`Client` itself mixes them in once wired)."""


def sdk(live: Live, user: str = "alice") -> ChatClient:
    return ChatClient(live.url, live.tokens[user])


def test_sdk_chat_and_conversations(live: Live) -> None:
    with sdk(live) as client:
        assert MODEL in client.chat_models()
        whole = client.chat(MODEL, "Say hi.", max_new_tokens=4, temperature=0)
        assert whole["usage"]["completion_tokens"] <= 4
        pieces = list(client.chat(MODEL, "Say hi.", stream=True, max_new_tokens=4, temperature=0))
        assert (
            "".join(p.get("text", "") for p in pieces) == whole["choices"][0]["message"]["content"]
        )
        assert pieces[-1]["usage"] == whole["usage"]
        conversation = client.create_conversation(MODEL, settings={"max_new_tokens": 3})
        answer = client.send_message(conversation["id"], "Hello")
        assert answer["assistant"]["tokens"] <= 3
        events = [e for e, _ in client.send_message(conversation["id"], "Again", stream=True)]
        assert events[0] == "start"
        assert events[-1] == "done"
        assert client.get_conversation(conversation["id"])["message_count"] == 4
        assert client.export_conversation(conversation["id"]).startswith("# Hello")
        template = client.create_prompt_template("brief", [["user", "Briefly: {question}"]])
        assert (
            client.add_prompt_template_version(template["id"], [["user", "{question}"]])["number"]
            == 2
        )
        client.delete_conversation(conversation["id"])
        assert client.list_conversations(q="Hello")["total"] == 0


def test_sdk_errors_are_platform_errors(live: Live) -> None:
    from aiplayground.errors import InvalidInput, NotFound

    with sdk(live) as client:
        with pytest.raises(InvalidInput, match="num_beams"):
            client.chat(MODEL, "hi", num_beams=2)
        with pytest.raises(NotFound):
            list(client.chat("missing", "hi", stream=True))


def cli_app(live: Live, monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    monkeypatch.setattr(chat_cli, "connect", lambda url, token: ChatClient(url, token))
    app = typer.Typer()
    app.command()(chat_cli.chat)
    app.command("noop")(lambda: None)  # a second command keeps `chat` a subcommand
    return app


def run_cli(live: Live, app: typer.Typer, *args: str, stdin: str = "") -> Any:
    return CliRunner().invoke(
        app,
        ["chat", MODEL, "--url", live.url, "--token", live.tokens["alice"], *args],
        input=stdin,
    )


def test_cli_asks_once(live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    result = run_cli(
        live,
        cli_app(live, monkeypatch),
        "-m",
        "Name a color.",
        "--max-tokens",
        "4",
        "--temperature",
        "0",
        "--system",
        "You are terse.",
    )
    assert result.exit_code == 0, result.output
    assert "tokens" in result.output.splitlines()[-1]


def test_cli_repl_and_errors(live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    app = cli_app(live, monkeypatch)
    result = run_cli(live, app, "--max-tokens", "3", stdin="Hello\n\nHi again\n/exit\n")
    assert result.exit_code == 0, result.output
    assert len(re.findall(r"\[\d+ tokens", result.output)) == 2
    assert "saved as conversation" in result.output
    refused = run_cli(live, app, "--top-k", "5", "--max-tokens", "2", "-m", "x", "--stop", "a")
    assert refused.exit_code == 0
    missing = CliRunner().invoke(
        app, ["chat", "nope", "--url", live.url, "--token", live.tokens["alice"], "-m", "x"]
    )
    assert missing.exit_code == 1
    assert "not_found" in missing.output
