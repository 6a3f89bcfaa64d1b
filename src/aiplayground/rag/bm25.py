"""Okapi BM25 over an inverted index, scored with numpy (fast enough for 10^5 chunks)."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

_TOKEN = re.compile(r"\w+", re.UNICODE)
_IntArray = np.ndarray[Any, np.dtype[np.int32]]
_FloatArray = np.ndarray[Any, np.dtype[np.float32]]


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens (any script)."""
    return _TOKEN.findall(text.lower())


class BM25:
    """A BM25 index of texts; `search` returns (position, score) pairs, best first."""

    def __init__(self, texts: Sequence[str], *, k1: float = 1.5, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b
        self.size = len(texts)
        postings: dict[str, tuple[list[int], list[int]]] = {}
        lengths = np.zeros(len(texts), dtype=np.float32)
        for position, text in enumerate(texts):
            counts = Counter(tokenize(text))
            lengths[position] = sum(counts.values())
            for token, tf in counts.items():
                docs, freqs = postings.setdefault(token, ([], []))
                docs.append(position)
                freqs.append(tf)
        average = float(lengths.mean()) if len(texts) else 1.0
        self._norm: _FloatArray = (k1 * (1 - b + b * lengths / max(average, 1e-9))).astype(
            np.float32
        )
        self._postings: dict[str, tuple[_IntArray, _FloatArray, float]] = {}
        for token, (docs, freqs) in postings.items():
            df = len(docs)
            idf = math.log((self.size - df + 0.5) / (df + 0.5) + 1.0)
            self._postings[token] = (
                np.array(docs, dtype=np.int32),
                np.array(freqs, dtype=np.float32),
                idf,
            )

    def scores(self, query: str) -> _FloatArray:
        """The BM25 score of every indexed text for the query."""
        scores = np.zeros(self.size, dtype=np.float32)
        for token in set(tokenize(query)):
            posting = self._postings.get(token)
            if posting is None:
                continue
            docs, tf, idf = posting
            scores[docs] += idf * tf * (self.k1 + 1) / (tf + self._norm[docs])
        return scores

    def search(
        self, query: str, k: int, allowed: np.ndarray[Any, np.dtype[np.bool_]] | None = None
    ) -> list[tuple[int, float]]:
        """The k best positions with a positive score, optionally among `allowed` ones."""
        scores = self.scores(query)
        if allowed is not None:
            scores = np.where(allowed, scores, 0.0).astype(np.float32)
        positive = int(np.count_nonzero(scores > 0))
        k = min(k, positive)
        if k <= 0:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(i), float(scores[i])) for i in top]
