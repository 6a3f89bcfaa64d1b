"""Retrieval: dense top-k with a threshold, hybrid dense + BM25 by reciprocal-rank fusion,
and maximal-marginal-relevance diversity. Pure functions over an index and an embedder."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from aiplayground.rag.bm25 import BM25
from aiplayground.rag.embedding import Embedder, Vectors
from aiplayground.rag.index import VectorIndex
from aiplayground.rag.schemas import RetrievalConfig, RetrievalMode


@dataclass
class Corpus:
    """The chunks of one index version for BM25: ids, their documents, and the index."""

    ids: list[str]
    documents: np.ndarray[Any, np.dtype[np.str_]]
    bm25: BM25

    @classmethod
    def build(cls, rows: Sequence[tuple[str, str, str]]) -> Corpus:
        """From (chunk id, document id, text) rows."""
        return cls(
            ids=[r[0] for r in rows],
            documents=np.array([r[1] for r in rows], dtype=np.str_),
            bm25=BM25([r[2] for r in rows]),
        )


@dataclass
class Scored:
    """A chunk chosen for a query, with its ranking score and cosine similarity."""

    chunk_id: str
    score: float
    similarity: float | None


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[str]], k: int = 60, weights: Sequence[float] | None = None
) -> dict[str, float]:
    """Fused scores: each ranking adds weight / (k + rank) for the ids it holds."""
    fused: dict[str, float] = {}
    for index, ranking in enumerate(rankings):
        weight = 1.0 if weights is None else weights[index]
        for rank, item in enumerate(ranking, 1):
            fused[item] = fused.get(item, 0.0) + weight / (k + rank)
    return fused


def lexical_confidence(scores: Sequence[float]) -> float:
    """How distinctive BM25's best hit is: ((s1 - s2) / s1)^2, 0 for a tie, 1 for a lone hit.

    Plain RRF gives keyword matches as much say as the embedding even when they only share
    common words with the query (on chatterbot-corpus, BM25 alone finds 17% of answers
    and equal-weight fusion cost dense retrieval 9 points of recall@5); a rare identifier
    that one passage holds still wins.
    """
    if not scores or scores[0] <= 0:
        return 0.0
    second = scores[1] if len(scores) > 1 else 0.0
    return float(((scores[0] - second) / scores[0]) ** 2)


def mmr(query: Vectors, vectors: Vectors, k: int, lam: float) -> list[int]:
    """Positions of k rows chosen by maximal marginal relevance (unit vectors)."""
    if len(vectors) == 0:
        return []
    relevance = vectors @ query
    chosen: list[int] = []
    redundancy = np.full(len(vectors), -np.inf, dtype=np.float32)
    left = np.ones(len(vectors), dtype=bool)
    while len(chosen) < min(k, len(vectors)):
        penalty = np.where(np.isinf(redundancy), 0.0, redundancy)
        value = np.where(left, lam * relevance - (1 - lam) * penalty, -np.inf)
        best = int(np.argmax(value))
        chosen.append(best)
        left[best] = False
        redundancy = np.maximum(redundancy, vectors @ vectors[best])
    return chosen


def search(
    index: VectorIndex,
    collection: str,
    embedder: Embedder,
    query: str,
    config: RetrievalConfig,
    top_k: int,
    *,
    documents: Sequence[str] | None = None,
    corpus: Corpus | None = None,
) -> list[Scored]:
    """The top_k chunks for a query under a retrieval configuration."""
    vector = embedder.embed_queries([query])[0]
    wide = (
        max(top_k, config.fetch_k)
        if (config.mmr or config.mode is not RetrievalMode.DENSE)
        else top_k
    )
    dense = index.query(collection, vector, wide, documents=documents, with_vectors=config.mmr)
    vectors: dict[str, Vectors] = {h.id: h.vector for h in dense if h.vector is not None}
    similarity = {h.id: h.score for h in dense}
    ranking = [h.id for h in dense]
    scores = dict(similarity)
    if config.mode is RetrievalMode.HYBRID and corpus is not None and corpus.ids:
        allowed = None if documents is None else np.isin(corpus.documents, list(documents))
        hits = corpus.bm25.search(query, wide, allowed)
        lexical = [corpus.ids[i] for i, _ in hits]
        weight = config.lexical_weight * lexical_confidence([score for _, score in hits])
        scores = reciprocal_rank_fusion([ranking, lexical], config.rrf_k, [1.0, weight])
        missing = [i for i in lexical if i not in similarity]
        if missing:
            found = index.vectors(collection, missing)
            vectors.update(found)
            for chunk_id, row in found.items():
                similarity[chunk_id] = float(row @ vector)
        dense_rank = {chunk_id: rank for rank, chunk_id in enumerate(ranking)}
        ranking = sorted(scores, key=lambda i: (-scores[i], dense_rank.get(i, len(dense_rank))))
    if config.score_threshold is not None:
        ranking = [i for i in ranking if similarity.get(i, -1.0) >= config.score_threshold]
    if config.mmr and len(ranking) > 1:
        missing = [i for i in ranking if i not in vectors]
        vectors.update(index.vectors(collection, missing) if missing else {})
        pool = [i for i in ranking if i in vectors]
        picked = mmr(vector, np.stack([vectors[i] for i in pool]), top_k, config.mmr_lambda)
        ranking = [pool[p] for p in picked]
    return [Scored(i, scores[i], similarity.get(i)) for i in ranking[:top_k]]
