"""The same request from a shell or a program: curl, the platform's Python SDK, plain httpx.

Snippets name the token `$AIP_TOKEN` (an environment variable) and never hold a secret.
Bodies past `INLINE_CHARS` are read from a `request.json` the user saves from the page.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from nicegui import ui

from aiplayground.ui.pages.catalog_common import copy_button, pre_block
from aiplayground.ui.pages.inference_request import Wire, python_literal

INLINE_CHARS = 4_000
BODY_FILE = "request.json"


@dataclass(frozen=True)
class Call:
    """One request as a client sends it: where to, and the body."""

    base_url: str
    model: str
    version: int | None  # None: the model's default version
    wire: Wire
    body: Any

    @property
    def path(self) -> str:
        """The route of this request on the server."""
        name = quote(self.model, safe="")
        if self.wire == "v1":
            return f"/v1/models/{name}:predict"
        if self.version is None:
            return f"/v2/models/{name}/infer"
        return f"/v2/models/{name}/versions/{self.version}/infer"

    @property
    def url(self) -> str:
        """The full URL of this request."""
        return self.base_url.rstrip("/") + self.path

    @property
    def inline(self) -> bool:
        """True when the body is small enough to write into the snippet."""
        return len(json.dumps(self.body)) <= INLINE_CHARS


def curl(call: Call) -> str:
    """A curl command for the request."""
    if call.inline:
        text = json.dumps(call.body, ensure_ascii=False)
        data = "'" + text.replace("'", "'\\''") + "'"
    else:
        data = f"@{BODY_FILE}"
    return (
        f'curl -sS -X POST "{call.url}" \\\n'
        '  -H "Authorization: Bearer $AIP_TOKEN" \\\n'
        '  -H "Content-Type: application/json" \\\n'
        f"  -d {data}"
    )


def sdk(call: Call) -> str:
    """The request through `aiplayground.sdk.Client`."""
    lines = ["import os", "", "from aiplayground.sdk import Client", "", *_body_lines(call), ""]
    lines.append(f'client = Client("{call.base_url.rstrip("/")}", token=os.environ["AIP_TOKEN"])')
    version = f", version={call.version}" if call.wire == "v2" and call.version is not None else ""
    model = json.dumps(call.model)
    lines.append(f'result = client.infer({model}, body, protocol="{call.wire}"{version})')
    lines.append("print(result)")
    return "\n".join(_imports(call, lines))


def httpx_form(call: Call) -> str:
    """The request with plain httpx (requests reads the same)."""
    lines = ["import os", "", "import httpx", "", *_body_lines(call), ""]
    lines += [
        "response = httpx.post(",
        f'    "{call.url}",',
        "    json=body,",
        '    headers={"Authorization": f"Bearer {os.environ[\'AIP_TOKEN\']}"},',
        "    timeout=60,",
        ")",
        "response.raise_for_status()",
        "print(response.json())",
    ]
    return "\n".join(_imports(call, lines))


def _body_lines(call: Call) -> list[str]:
    if not call.inline:
        return [f'body = json.loads(Path("{BODY_FILE}").read_text())']
    return [f"body = {python_literal(call.body)}"]


def _imports(call: Call, lines: list[str]) -> list[str]:
    if call.inline:
        return lines
    return ["import json", *lines[:1], "from pathlib import Path", *lines[1:]]


def code_panel(call: Call) -> None:
    """Tabs with the three snippets, each with a copy button."""
    snippets = (
        ("curl", "terminal", "curl", curl(call)),
        ("sdk", "data_object", "Python SDK", sdk(call)),
        ("httpx", "code", "httpx", httpx_form(call)),
    )
    with (
        ui.tabs()
        .props("dense no-caps align=left inline-label breakpoint=0")
        .classes("w-full") as tabs
    ):
        first = None
        for key, icon, label, _ in snippets:
            tab = ui.tab(key, label=label, icon=icon).props(f"data-testid=code-tab-{key}")
            first = first or tab
    with ui.tab_panels(tabs, value=first).classes("w-full bg-transparent"):
        for key, _, label, text in snippets:
            with ui.tab_panel(key).classes("p-0 pt-2"), ui.element("div").classes("aip-snippet"):
                pre_block(text, testid=f"code-{key}", wrap=False)
                with ui.element("div").classes("aip-snippet-copy"):
                    copy_button(text, label)
    with ui.row().classes("w-full items-center gap-2 text-xs aip-muted"):
        ui.icon("key", size="1rem")
        ui.label("Export an API token as AIP_TOKEN first (Settings → API tokens).")
        if not call.inline:
            ui.space()
            ui.button(
                f"Download {BODY_FILE}",
                icon="download",
                on_click=lambda: ui.download.content(
                    json.dumps(call.body), BODY_FILE, "application/json"
                ),
            ).props("flat dense no-caps size=sm data-testid=code-download")
