"""BM25, reciprocal-rank fusion, MMR and the evaluation metrics, on small fixed data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from aiplayground.errors import ValidationFailed
from aiplayground.rag.bm25 import BM25, tokenize
from aiplayground.rag.evaluation import read_questions, score
from aiplayground.rag.retrieval import lexical_confidence, mmr, reciprocal_rank_fusion

TEXTS = [
    "The muon chamber alignment uses laser beams.",
    "Calorimeter calibration with electrons from Z decays.",
    "Muon momentum resolution improves with alignment.",
    "Coffee machine on the third floor is broken.",
]


def test_tokenize_any_script() -> None:
    assert tokenize("Città di Pisa, ΔE=5 GeV") == ["città", "di", "pisa", "δe", "5", "gev"]


def test_bm25_ranks_by_term_rarity_and_frequency() -> None:
    index = BM25(TEXTS)
    hits = index.search("muon alignment", 3)
    assert [i for i, _ in hits][:2] in ([0, 2], [2, 0])
    assert all(score > 0 for _, score in hits)
    assert index.search("coffee", 5) == [(3, pytest.approx(index.scores("coffee")[3]))]
    assert index.search("nonexistent", 5) == []


def test_bm25_respects_allowed_positions() -> None:
    index = BM25(TEXTS)
    allowed = np.array([False, True, True, True])
    assert [i for i, _ in index.search("muon alignment", 5, allowed)] == [2]


def test_bm25_of_an_empty_corpus() -> None:
    assert BM25([]).search("anything", 3) == []


def test_reciprocal_rank_fusion() -> None:
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["c", "a"]], k=60)
    assert max(fused, key=lambda i: fused[i]) == "a"
    assert fused["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert fused["b"] == pytest.approx(1 / 62)


def test_weighted_fusion_and_lexical_confidence() -> None:
    fused = reciprocal_rank_fusion([["a", "b"], ["b", "a"]], k=60, weights=[1.0, 0.0])
    assert fused["a"] > fused["b"]
    assert lexical_confidence([]) == 0.0
    assert lexical_confidence([3.0]) == 1.0
    assert lexical_confidence([2.0, 2.0, 1.0]) == 0.0
    assert lexical_confidence([4.0, 1.0]) == pytest.approx(0.5625)


def test_mmr_prefers_diverse_results() -> None:
    query = np.array([1.0, 0.0, 0.0], dtype=np.float32)
    near = np.array([0.9, 0.436, 0.0], dtype=np.float32)
    vectors = np.stack([near, near * 0.999 + 0.001, np.array([0.8, 0.0, 0.6], dtype=np.float32)])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    assert mmr(query, vectors, 2, lam=1.0) == [0, 1]
    assert mmr(query, vectors, 2, lam=0.5) == [0, 2]
    assert mmr(query, vectors[:0], 2, 0.5) == []


def test_recall_and_mrr() -> None:
    rankings = [["a", "b", "c"], ["x", "y", "z"], ["q", "r", "s"]]
    relevant = [{"a"}, {"z", "w"}, {"nothing"}]
    recall, mrr = score(rankings, relevant, k=2)
    assert recall == pytest.approx((1 + 0 + 0) / 3)
    assert mrr == pytest.approx((1 + 1 / 3 + 0) / 3)


def test_question_files(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text(
        '{"question": "what?", "relevant": ["a.pdf"]}\n\n'
        '{"question": "who?", "documents": "b.md"}\n'
    )
    questions = read_questions(path)
    assert [q.relevant for q in questions] == [["a.pdf"], ["b.md"]]
    path.write_text('{"question": "no answers"}\n')
    with pytest.raises(ValidationFailed, match="line 1"):
        read_questions(path)
    path.write_text("not json\n")
    with pytest.raises(ValidationFailed, match="not JSON"):
        read_questions(path)
