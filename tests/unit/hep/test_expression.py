"""The cut language: a whitelist over `ast`, element-wise on numpy and awkward arrays."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

from aiplayground.errors import InvalidInput
from aiplayground.hep.expression import parse


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os')",
        "__import__('os').system('true')",
        "NMuon.__class__",
        "x.real",
        "(lambda: 1)()",
        "open('/etc/passwd')",
        "[x for x in y]",
        "x[0]",
        "'text' == x",
        "eval('1')",
        "abs(x, y)",
        "x if y else z",
        "x := 1",
    ],
)
def test_refuses_code(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse(text)


def test_evaluates_elementwise() -> None:
    columns = {"a": np.array([1.0, -4.0, 9.0]), "b": np.array([0, 1, 2])}
    expression = parse("sqrt(abs(a)) >= 2 and not b == 2 or a < -100")
    assert expression.names == {"a", "b"}
    assert expression.evaluate(columns).tolist() == [False, True, False]
    assert parse("0 < b <= 2").evaluate(columns).tolist() == [False, True, True]


def test_jagged_reductions() -> None:
    columns = {"pt": ak.Array([[10.0, 30.0], [], [5.0]]), "n": np.array([2, 0, 1])}
    assert ak.to_list(parse("count(pt) >= 1 and any(pt > 20)").evaluate(columns)) == [
        True,
        False,
        False,
    ]
    assert ak.to_list(parse("sum(pt) + n").evaluate(columns)) == [42.0, 0.0, 6.0]
