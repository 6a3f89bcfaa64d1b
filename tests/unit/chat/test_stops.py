"""Stop sequences across streamed pieces."""

from __future__ import annotations

from aiplayground.chat.providers.stops import StopScanner


def feed_all(stops: list[str], pieces: list[str]) -> tuple[str, bool]:
    scanner = StopScanner(stops)
    out = "".join(scanner.feed(p) for p in pieces)
    return out + scanner.flush(), scanner.stopped


def test_stop_split_across_pieces_never_leaks() -> None:
    assert feed_all(["END"], ["abc E", "N", "D more"]) == ("abc ", True)


def test_held_text_that_is_no_stop_comes_out() -> None:
    assert feed_all(["END"], ["abc E", "NX"]) == ("abc ENX", False)
    assert feed_all(["END"], ["abc EN"]) == ("abc EN", False)


def test_earliest_of_several_stops_wins() -> None:
    assert feed_all(["\n\n", "User:"], ["Hi User: x\n\n"]) == ("Hi ", True)


def test_no_stops_passes_through() -> None:
    scanner = StopScanner(None)
    assert scanner.feed("abc") == "abc"
