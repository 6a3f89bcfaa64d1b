"""Safe cut expressions over branches: parsed with `ast` against a whitelist, never `eval`.

A cut such as `NMuon >= 2 and abs(MET_px) < 100` comes from a user (and is stored in a
model version), so it must not be able to run code. uproot's own `cut=` evaluates the
string with Python's `eval`, so it is not used. Only branch names, numbers, arithmetic,
comparisons, `and`/`or`/`not` and a few named functions are accepted.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from aiplayground.errors import InvalidInput

MAX_LENGTH = 2000
MAX_NODES = 200

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
    ast.Mod: operator.mod,
}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}


def _ak() -> Any:
    import awkward as ak

    return ak


# Functions a cut may call; each works on numpy and awkward arrays alike.
FUNCTIONS: dict[str, Callable[[Any], Any]] = {
    "abs": np.abs,
    "sqrt": np.sqrt,
    "count": lambda x: _ak().num(x, axis=1),
    "any": lambda x: _ak().any(x, axis=1),
    "all": lambda x: _ak().all(x, axis=1),
    "sum": lambda x: _ak().sum(x, axis=1),
}


@dataclass(frozen=True)
class Expression:
    """A parsed, checked expression and the branch names it reads."""

    text: str
    tree: ast.Expression
    names: frozenset[str]

    def evaluate(self, columns: Mapping[str, Any]) -> Any:
        """The expression's value over arrays keyed by branch name."""
        return _evaluate(self.tree.body, columns)


def parse(text: str) -> Expression:
    """Parse and check an expression; refuse anything outside the whitelist."""
    if len(text) > MAX_LENGTH:
        raise InvalidInput(f"expression longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise InvalidInput(f"expression {text!r} is not valid: {exc.msg}") from None
    nodes = list(ast.walk(tree))
    if len(nodes) > MAX_NODES:
        raise InvalidInput(f"expression {text!r} is too complex")
    for node in nodes:
        _check(node, text)
    # The names called as functions are not branches; every other name is.
    called = {id(n.func) for n in nodes if isinstance(n, ast.Call)}
    branches = {n.id for n in nodes if isinstance(n, ast.Name) and id(n) not in called}
    return Expression(text, tree, frozenset(branches))


def _check(node: ast.AST, text: str) -> None:
    allowed = (
        ast.Expression,
        ast.BoolOp,
        ast.And,
        ast.Or,
        ast.UnaryOp,
        ast.Not,
        ast.USub,
        ast.UAdd,
        ast.BinOp,
        ast.Compare,
        ast.Load,
        *_BINARY,
        *_COMPARE,
    )
    if isinstance(node, ast.Name):
        return
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise InvalidInput(f"expression {text!r}: only numbers may appear as constants")
        return
    if isinstance(node, ast.Call):
        if (
            not isinstance(node.func, ast.Name)
            or node.func.id not in FUNCTIONS
            or node.keywords
            or len(node.args) != 1
        ):
            raise InvalidInput(
                f"expression {text!r}: only one-argument calls of {sorted(FUNCTIONS)} are allowed"
            )
        return
    if not isinstance(node, allowed):
        raise InvalidInput(f"expression {text!r}: {type(node).__name__} is not allowed")


def _evaluate(node: ast.AST, columns: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return columns[node.id]
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)
        return FUNCTIONS[node.func.id](_evaluate(node.args[0], columns))
    if isinstance(node, ast.UnaryOp):
        value = _evaluate(node.operand, columns)
        if isinstance(node.op, ast.Not):
            return ~_as_bool(value)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp):
        return _BINARY[type(node.op)](_evaluate(node.left, columns), _evaluate(node.right, columns))
    if isinstance(node, ast.BoolOp):
        values = [_as_bool(_evaluate(v, columns)) for v in node.values]
        result = values[0]
        for value in values[1:]:
            result = (result & value) if isinstance(node.op, ast.And) else (result | value)
        return result
    if isinstance(node, ast.Compare):
        left = _evaluate(node.left, columns)
        result = None
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = _evaluate(right_node, columns)
            step = _COMPARE[type(op)](left, right)
            result = step if result is None else (result & step)
            left = right
        return result
    raise InvalidInput(f"{type(node).__name__} is not allowed")  # unreachable after _check


def _as_bool(value: Any) -> Any:
    # `and`/`or`/`not` act element-wise: Python's own would ask an array for one truth value.
    if isinstance(value, bool | int | float):
        return np.bool_(value)
    return value != 0 if getattr(value, "dtype", None) != np.bool_ else value
