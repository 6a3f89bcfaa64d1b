"""Recent requests of one browser session, kept in this process's memory (not the database).

Each browser (NiceGUI's browser id) and user has the last `MAX_ENTRIES` requests; bodies
larger than `MAX_BODY_CHARS` are listed but not kept for replay, and at most
`MAX_SESSIONS` sessions are remembered (the least recently used are forgotten), so the
memory it takes is bounded whatever the traffic.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from nicegui import app, ui

from aiplayground.ui.pages.catalog_common import chip
from aiplayground.ui.pages.inference_request import WIRES, Wire

MAX_ENTRIES = 20
MAX_BODY_CHARS = 32_000
MAX_SESSIONS = 200  # at most about 128 MB of bodies, whatever the traffic


@dataclass(frozen=True)
class Entry:
    """One request sent from the page and how it went."""

    at: datetime
    model: str
    version: int | None
    wire: Wire
    body: str | None  # None when too large to keep
    status: int
    rows: int | None
    server_ms: float

    @property
    def ok(self) -> bool:
        """True when the model answered."""
        return self.status < 400


class History:
    """The recent requests of every browser session, newest first."""

    def __init__(self) -> None:
        self._sessions: OrderedDict[tuple[str, str], deque[Entry]] = OrderedDict()

    def entries(self, key: tuple[str, str]) -> list[Entry]:
        """This session's requests, newest first."""
        return list(self._sessions.get(key, ()))

    def add(self, key: tuple[str, str], entry: Entry) -> None:
        """Remember a request (and forget the oldest beyond the bounds)."""
        if entry.body is not None and len(entry.body) > MAX_BODY_CHARS:
            entry = replace(entry, body=None)
        entries = self._sessions.pop(key, None) or deque(maxlen=MAX_ENTRIES)
        entries.appendleft(entry)
        self._sessions[key] = entries
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)

    def clear(self, key: tuple[str, str]) -> None:
        """Forget this session's requests."""
        self._sessions.pop(key, None)

    def draw(
        self,
        key: tuple[str, str],
        on_load: Callable[[Entry], object],
        on_replay: Callable[[Entry], object],
    ) -> None:
        """This session's requests as rows."""
        history_list(self.entries(key), on_load, on_replay)


HISTORY = History()


def history_card(on_clear: Callable[[], None]) -> ui.column:
    """The card the history is drawn in; returns the column to draw the rows into."""
    with ui.card().classes("aip-card w-full p-4 gap-2"):
        with ui.row().classes("w-full items-baseline gap-2"):
            ui.label("Recent requests").classes("text-lg font-medium")
            ui.label(f"this browser session, the last {MAX_ENTRIES}").classes("text-sm aip-muted")
            ui.space()
            ui.button("Clear", icon="delete_sweep", on_click=on_clear).props(
                "flat dense no-caps size=sm color=grey-7 data-testid=history-clear"
            )
        return ui.column().classes("w-full").props("data-testid=history")


def history_list(
    entries: list[Entry],
    on_load: Callable[[Entry], object],
    on_replay: Callable[[Entry], object],
) -> None:
    """The requests as rows: status, time, model, protocol, rows, time taken, load/replay."""
    if not entries:
        ui.label("Requests you send appear here, newest first; replay one with a click.").classes(
            "text-sm aip-muted"
        ).props("data-testid=history-empty")
        return
    with ui.column().classes("w-full gap-1"):
        for entry in entries:
            with (
                ui.row()
                .classes("aip-history-row w-full items-center no-wrap gap-3 px-3 py-1.5")
                .props("data-testid=history-entry")
            ):
                ui.icon("check_circle" if entry.ok else "error", size="1.1rem").classes(
                    "text-positive" if entry.ok else "text-negative"
                )
                ui.label(entry.at.astimezone(UTC).strftime("%H:%M:%S")).classes(
                    "aip-mono text-xs aip-muted"
                )
                ui.label(entry.model).classes("font-medium truncate")
                if entry.version is not None:
                    ui.label(f"version {entry.version}").classes("text-sm aip-muted")
                chip(WIRES[entry.wire], outline=True)
                ui.label(_outcome(entry)).classes("text-sm aip-muted truncate grow")
                ui.label(f"{entry.server_ms:.1f} ms").classes("text-xs aip-muted whitespace-nowrap")
                if entry.body is None:
                    ui.icon("block", size="1.1rem").classes("aip-muted").tooltip(
                        "Too large to keep for replay"
                    )
                    continue
                ui.button(icon="edit_note", on_click=lambda e=entry: on_load(e)).props(
                    "flat round dense size=sm data-testid=history-load"
                ).tooltip("Load into the editor")
                ui.button(icon="replay", on_click=lambda e=entry: on_replay(e)).props(
                    "flat round dense size=sm color=primary data-testid=history-replay"
                ).tooltip("Send again")


def _outcome(entry: Entry) -> str:
    if not entry.ok:
        return f"HTTP {entry.status}"
    if entry.rows is None:
        return "answered"
    return f"{entry.rows} row{'s' if entry.rows != 1 else ''}"


def session_key(user: str) -> tuple[str, str]:
    """This browser's session and the signed-in user."""
    return (str(app.storage.browser.get("id", "")), user)


def now() -> datetime:
    """The time an entry is stamped with."""
    return datetime.now(UTC)
