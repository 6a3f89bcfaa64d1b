"""The validation split: reproducible, stratified on the label texts, whatever their type."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from aiplayground.training.data import label_codes, split_rows

RNG = np.random.default_rng(1)
LABELS = {
    # 0..12: text order ("10" < "2") differs from number order.
    "integers": RNG.integers(0, 13, 4000),
    "texts": np.array(["setosa", "versicolor", "virginica", "B", "a"])[RNG.integers(0, 5, 3000)],
    "floats": RNG.integers(0, 3, 3000).astype(float),
    "booleans": RNG.integers(0, 2, 3000).astype(bool),
    # 1 and "1" have the same text: one class.
    "mixed objects": np.array([1, "1", "x", 2.5], dtype=object)[RNG.integers(0, 4, 3000)],
}


def _split_on_texts(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, ...]:
    """The split as stratifying on each row's label text gives it (the definition)."""
    texts = np.asarray(labels).astype(str)
    train, valid = train_test_split(
        np.arange(len(labels)), test_size=fraction, random_state=seed, stratify=texts
    )
    return np.sort(train), np.sort(valid)


@pytest.mark.parametrize("kind", sorted(LABELS))
@pytest.mark.parametrize("seed", [0, 7])
def test_split_equals_the_split_on_label_texts(kind: str, seed: int) -> None:
    labels = LABELS[kind]
    train, valid = split_rows(labels, 0.2, seed, stratify=True)
    expected_train, expected_valid = _split_on_texts(labels, 0.2, seed)
    assert np.array_equal(train, expected_train)
    assert np.array_equal(valid, expected_valid)


def test_label_codes_rank_label_texts() -> None:
    codes = label_codes(np.array([10, 2, 1, 2, 10]))
    assert codes.tolist() == [1, 2, 0, 2, 1]  # "1" < "10" < "2"
    assert label_codes(np.array([1, "1", "x"], dtype=object)).tolist() == [0, 0, 1]


def test_a_class_with_one_row_splits_unstratified() -> None:
    labels = np.array([0] * 60 + [1] * 39 + [2])
    train, valid = split_rows(labels, 0.2, 0, stratify=True)
    expected = train_test_split(np.arange(100), test_size=0.2, random_state=0)
    assert np.array_equal(valid, np.sort(expected[1]))
    assert len(train) + len(valid) == 100
