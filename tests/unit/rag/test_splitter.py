"""Recursive splitting by tokens: sizes, overlap, sections, parents."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from aiplayground.rag.loaders import Section
from aiplayground.rag.splitter import split_parents, split_sections, split_text


def words(texts: Sequence[str]) -> list[int]:
    return [len(t.split()) for t in texts]


def sentence(i: int) -> str:
    return f"Sentence number {i} says something rather short."  # 7 words


def test_chunks_fit_and_cover_the_text() -> None:
    text = " ".join(sentence(i) for i in range(100))
    chunks = split_text(text, 40, 8, words)
    assert len(chunks) > 1
    assert all(tokens <= 40 for _, tokens in chunks)
    assert all(len(chunk.split()) <= 40 for chunk, _ in chunks)
    for i in range(100):
        assert any(f"number {i} says" in chunk for chunk, _ in chunks)


def test_consecutive_chunks_overlap() -> None:
    text = " ".join(sentence(i) for i in range(60))
    chunks = [c for c, _ in split_text(text, 30, 10, words)]
    for first, second in itertools.pairwise(chunks):
        tail = first.split(". ")[-1]
        assert tail in second


def test_no_overlap_means_disjoint_chunks() -> None:
    text = " ".join(sentence(i) for i in range(30))
    chunks = [c for c, _ in split_text(text, 21, 0, words)]
    assert sum(len(c.split()) for c in chunks) == 30 * 7


def test_paragraphs_are_preferred_boundaries() -> None:
    text = "alpha beta gamma.\n\ndelta epsilon zeta.\n\neta theta iota."
    chunks = [c for c, _ in split_text(text, 6, 0, words)]
    assert chunks == ["alpha beta gamma.\n\ndelta epsilon zeta.", "eta theta iota."]


def test_a_run_without_boundaries_is_cut_hard() -> None:
    text = "x" * 5000
    chunks = split_text(text, 50, 0, lambda ts: [max(1, len(t) // 10) for t in ts])
    assert all(tokens <= 50 for _, tokens in chunks)
    assert "".join(c for c, _ in chunks) == text


def test_sections_keep_page_and_heading() -> None:
    sections = [
        Section(" ".join(sentence(i) for i in range(10)), page=1, heading="A"),
        Section(" ".join(sentence(i) for i in range(10, 20)), page=2, heading="A > B"),
    ]
    drafts = split_sections(sections, 30, 5, words)
    assert {d.page for d in drafts} == {1, 2}
    assert all((d.page == 1) == (d.heading == "A") for d in drafts)
    assert not any("number 9 says" in d.text and d.page == 2 for d in drafts)


def test_parents_hold_their_children() -> None:
    sections = [Section(" ".join(sentence(i) for i in range(40)), page=3)]
    parents = split_parents(sections, 100, 20, 4, words)
    assert len(parents) >= 3
    for parent in parents:
        assert parent.tokens <= 100
        assert parent.children
        assert all(child.page == 3 and child.text in parent.text for child in parent.children)


def test_empty_text_gives_no_chunks() -> None:
    assert split_text("   \n\n ", 10, 2, words) == []
