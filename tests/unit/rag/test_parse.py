"""The bounded parser process: results, refusals, and time and memory limits."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiplayground.rag.parse import ParseFailed, parse_file
from tests.unit.rag.files import make_pdf, make_zip_bomb

LIMITS = {"timeout_s": 30.0, "memory_bytes": 1024**3, "max_chars": 1_000_000}


def test_a_pdf_parses_in_the_child(tmp_path: Path) -> None:
    path = tmp_path / "a.pdf"
    path.write_bytes(make_pdf(["alpha", "beta"]))
    parsed = parse_file(path, "pdf", **LIMITS)  # type: ignore[arg-type]
    assert [s.page for s in parsed.sections] == [1, 2]
    assert parsed.pages == 2
    assert not parsed.truncated


def test_refusals_carry_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "bad.pdf"
    path.write_bytes(b"%PDF-1.7\n" + b"\x00garbage" * 100)
    with pytest.raises(ParseFailed, match="damaged or unreadable"):
        parse_file(path, "pdf", **LIMITS)  # type: ignore[arg-type]
    bomb = make_zip_bomb(tmp_path / "bomb.docx", megabytes=4)
    with pytest.raises(ParseFailed, match="zip bomb"):
        parse_file(bomb, "docx", **LIMITS)  # type: ignore[arg-type]
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")
    with pytest.raises(ParseFailed, match="no text"):
        parse_file(empty, "text", **LIMITS)  # type: ignore[arg-type]


def test_long_text_is_truncated(tmp_path: Path) -> None:
    path = tmp_path / "long.txt"
    path.write_text("word " * 10_000)
    parsed = parse_file(path, "text", timeout_s=30, memory_bytes=1024**3, max_chars=1000)
    assert parsed.truncated
    assert sum(len(s.text) for s in parsed.sections) == 1000


def test_a_parse_past_its_time_is_killed(tmp_path: Path) -> None:
    path = tmp_path / "slow.html"
    path.write_text("<div>" * 200_000 + "deep" + "</div>" * 200_000)
    with pytest.raises(ParseFailed, match="longer than"):
        parse_file(path, "html", timeout_s=0.05, memory_bytes=1024**3, max_chars=1000)


def test_a_parse_past_its_memory_fails_cleanly(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_bytes(b"a" * (200 * 1024**2))
    with pytest.raises(ParseFailed, match="memory"):
        parse_file(path, "text", timeout_s=30, memory_bytes=256 * 1024**2, max_chars=10**9)
