"""`aiplayground chat MODEL`: an interactive, streaming chat in the terminal.

The session is a platform conversation (server-side memory, trimming and history), so it
also shows in the Chat page; `--conversation ID` continues one.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from aiplayground.cli.common import DEFAULT_URL, TokenOption, UrlOption, connect, reporting_errors
from aiplayground.errors import PlaygroundError
from aiplayground.sdk import Client

EXIT_WORDS = ("/exit", "/quit")
HELP = "Type a message; /exit or Ctrl-D leaves, Ctrl-C stops an answer."


def _settings(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v not in (None, [])}


def _answer(client: Client, conversation: str, text: str, settings: dict[str, Any]) -> None:
    """Stream one answer to the terminal, then its token count and speed."""
    events = client.send_message(conversation, text, stream=True, **settings)
    try:
        for event, data in events:
            if event == "delta":
                typer.echo(data["text"], nl=False)
            elif event == "sources":
                for i, source in enumerate(data["sources"], 1):
                    typer.secho(f"[{i}] {source.get('document', '')}", dim=True)
            elif event == "error":
                typer.secho(f"\nerror ({data['code']}): {data['message']}", err=True, fg="red")
            elif event == "done":
                _footer(data["message"])
    except KeyboardInterrupt:
        # Closing the stream makes the server stop generating; the partial answer is kept.
        events.close()
        typer.secho("\n[stopped]", dim=True)


def _footer(message: dict[str, Any]) -> None:
    timings = message.get("timings") or {}
    parts = [f"{message.get('tokens') or 0} tokens"]
    if timings.get("tokens_per_s"):
        parts.append(f"{timings['tokens_per_s']:.1f} tokens/s")
    if timings.get("ttft_s") is not None:
        parts.append(f"first token {timings['ttft_s'] * 1000:.0f} ms")
    if message.get("finish_reason") == "length":
        parts.append("cut at max tokens")
    typer.secho(f"\n[{', '.join(parts)}]", dim=True)


def chat(
    model: Annotated[str, typer.Argument(help="Catalog text-generation model.")],
    system: Annotated[str | None, typer.Option("--system", help="System prompt.")] = None,
    message: Annotated[
        str | None, typer.Option("--message", "-m", help="Ask once, print the answer, exit.")
    ] = None,
    conversation: Annotated[
        str | None, typer.Option("--conversation", help="Continue this conversation id.")
    ] = None,
    max_tokens: Annotated[
        int | None, typer.Option("--max-tokens", help="Most tokens per answer.")
    ] = None,
    temperature: Annotated[float | None, typer.Option(help="Sampling temperature.")] = None,
    top_k: Annotated[int | None, typer.Option(help="Top-k sampling.")] = None,
    top_p: Annotated[float | None, typer.Option(help="Nucleus sampling.")] = None,
    repetition_penalty: Annotated[float | None, typer.Option(help="1: none.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for reproducible sampling.")] = None,
    stop: Annotated[list[str] | None, typer.Option(help="Stop sequence (repeatable).")] = None,
    memory: Annotated[
        int | None, typer.Option(help="Past messages sent to the model (default: server's).")
    ] = None,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Chat with a model: answers stream as they are generated."""
    settings = _settings(
        max_new_tokens=max_tokens,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        repetition_penalty=repetition_penalty,
        seed=seed,
        stop=stop,
    )
    with reporting_errors(), connect(url, token) as client:
        if conversation is None:
            conversation = client.create_conversation(
                model,
                settings=settings,
                system_prompt=system,
                memory_messages=memory,
                title="" if message else f"Terminal chat with {model}",
            )["id"]
            settings = {}
        if message is not None:
            _answer(client, conversation, message, settings)
            return
        typer.secho(f"{model} — {HELP}", dim=True)
        _repl(client, conversation, settings)
        typer.secho(f"saved as conversation {conversation}", dim=True)


def _repl(client: Client, conversation: str, settings: dict[str, Any]) -> None:
    while True:
        try:
            text = input("you> ")
        except (EOFError, KeyboardInterrupt):
            typer.echo()
            return
        if text.strip() in EXIT_WORDS:
            return
        if not text.strip():
            continue
        try:
            _answer(client, conversation, text, settings)
        except PlaygroundError as exc:
            typer.secho(f"error ({exc.code}): {exc.message}", err=True, fg="red")
