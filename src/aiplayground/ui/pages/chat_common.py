"""What the Chat page's parts share."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Concatenate, ParamSpec, Protocol, TypeVar

from nicegui import ui

P = ParamSpec("P")
R = TypeVar("R")


class HasRoot(Protocol):
    """A part of the page with an element that lives as long as the page."""

    @property
    def root(self) -> ui.element: ...


S = TypeVar("S", bound=HasRoot)


def in_root(
    method: Callable[Concatenate[S, P], Awaitable[R]],
) -> Callable[Concatenate[S, P], Awaitable[R]]:
    """Run an event handler in the part's lasting element, not in the clicked one.

    NiceGUI runs a handler in the slot of the element that fired the event; when the
    handler redraws that element away (a regenerated answer, a refreshed list), later
    notifications and dialogs would have no page to go to.
    """

    @functools.wraps(method)
    async def wrapper(part: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with part.root:
            return await method(part, *args, **kwargs)

    return wrapper
