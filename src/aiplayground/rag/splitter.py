"""Recursive splitting by token counts, with overlap, and parent/child chunks.

Text is cut at the coarsest boundary that makes pieces fit (paragraphs, then lines,
sentences, words, and last characters), and pieces are packed greedily into chunks of
at most `size` tokens; consecutive chunks share up to `overlap` tokens. Chunks never
cross sections, so each keeps the page and heading of the section it came from.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from aiplayground.rag.loaders import Section

# Counts tokens of many texts at once (tokenizers batch well).
TokenCounter = Callable[[Sequence[str]], list[int]]

SEPARATORS = ("\n\n", "\n", r"(?<=[.!?;:])\s+", r"(?<=,)\s+", r"\s+")


@dataclass
class Draft:
    """A chunk before it is stored: its text, tokens, page and heading."""

    text: str
    tokens: int
    page: int | None = None
    heading: str = ""
    children: list[Draft] = field(default_factory=list)


def split_text(text: str, size: int, overlap: int, count: TokenCounter) -> list[tuple[str, int]]:
    """Cut text into (chunk, tokens) pairs of at most `size` tokens sharing `overlap`."""
    text = text.strip()
    if not text:
        return []
    pieces = _pieces(text, 0, size, count)
    return _merge(pieces, size, overlap)


def split_sections(
    sections: Sequence[Section], size: int, overlap: int, count: TokenCounter
) -> list[Draft]:
    """Chunks of every section, keeping each section's page and heading."""
    drafts: list[Draft] = []
    for section in sections:
        for text, tokens in split_text(section.text, size, overlap, count):
            drafts.append(Draft(text, tokens, section.page, section.heading))
    return drafts


def split_parents(
    sections: Sequence[Section],
    parent_size: int,
    size: int,
    overlap: int,
    count: TokenCounter,
) -> list[Draft]:
    """Parent passages (no overlap) each holding its small overlapping child chunks."""
    parents = split_sections(sections, parent_size, 0, count)
    for parent in parents:
        parent.children = [
            Draft(text, tokens, parent.page, parent.heading)
            for text, tokens in split_text(parent.text, size, overlap, count)
        ]
    return parents


def _split_keep(text: str, pattern: str) -> list[str]:
    # Separators stay attached to the piece before them, so joining restores the text.
    if pattern in ("\n\n", "\n"):
        parts = text.split(pattern)
        return [p + pattern for p in parts[:-1]] + [parts[-1]]
    pieces: list[str] = []
    start = 0
    for match in re.finditer(pattern, text):
        pieces.append(text[start : match.end()])
        start = match.end()
    pieces.append(text[start:])
    return pieces


def _pieces(text: str, level: int, size: int, count: TokenCounter) -> list[tuple[str, int]]:
    if level >= len(SEPARATORS):
        return _hard_split(text, size, count)
    parts = [p for p in _split_keep(text, SEPARATORS[level]) if p]
    if len(parts) <= 1:
        return _pieces(text, level + 1, size, count)
    out: list[tuple[str, int]] = []
    for part, tokens in zip(parts, count(parts), strict=True):
        if tokens <= size:
            out.append((part, tokens))
        else:
            out.extend(_pieces(part, level + 1, size, count))
    return out


def _hard_split(text: str, size: int, count: TokenCounter) -> list[tuple[str, int]]:
    # No boundary left (a long token-dense run): cut by characters at the text's own
    # characters-per-token rate, a little under size so each window fits.
    tokens = max(1, count([text])[0])
    width = max(1, int(len(text) / tokens * size * 0.9))
    windows = [text[i : i + width] for i in range(0, len(text), width)]
    return list(zip(windows, count(windows), strict=True))


def _merge(pieces: list[tuple[str, int]], size: int, overlap: int) -> list[tuple[str, int]]:
    chunks: list[tuple[str, int]] = []
    window: list[tuple[str, int]] = []
    total = 0
    for piece, tokens in pieces:
        if window and total + tokens > size:
            chunks.append(_join(window, total))
            # Keep the tail (at most `overlap` tokens) as the start of the next chunk.
            while window and (total > overlap or total + tokens > size):
                total -= window.pop(0)[1]
        window.append((piece, tokens))
        total += tokens
    if window:
        chunks.append(_join(window, total))
    return [c for c in chunks if c[0]]


def _join(window: list[tuple[str, int]], total: int) -> tuple[str, int]:
    return "".join(p for p, _ in window).strip(), total
