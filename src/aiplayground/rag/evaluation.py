"""Retrieval evaluation: question files and the recall@k / MRR metrics."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from aiplayground.errors import ValidationFailed
from aiplayground.rag.schemas import EvalQuestion

MAX_QUESTIONS = 10_000
RELEVANT_KEYS = ("relevant", "documents", "document_ids", "relevant_documents")


def read_questions(path: Path) -> list[EvalQuestion]:
    """Questions from a JSONL file: {"question": ..., "relevant": [document ids or names]}."""
    questions: list[EvalQuestion] = []
    with path.open(encoding="utf-8") as stream:
        for number, line in enumerate(stream, 1):
            if not line.strip():
                continue
            if len(questions) >= MAX_QUESTIONS:
                raise ValidationFailed(f"{path.name} has more than {MAX_QUESTIONS} questions")
            questions.append(parse_question(line, f"{path.name} line {number}"))
    if not questions:
        raise ValidationFailed(f"{path.name} holds no questions")
    return questions


def parse_question(line: str, where: str) -> EvalQuestion:
    """One JSONL line; the relevant documents may be under any of RELEVANT_KEYS."""
    try:
        data = json.loads(line)
    except ValueError as exc:
        raise ValidationFailed(f"{where}: not JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ValidationFailed(f"{where}: expected a JSON object")
    for key in RELEVANT_KEYS:
        if key in data and "relevant" not in data:
            value = data[key]
            data["relevant"] = value if isinstance(value, list) else [value]
    try:
        return EvalQuestion.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise ValidationFailed(f"{where}: {field}: {first['msg']}") from exc


def score(
    rankings: Sequence[Sequence[str]], relevant: Sequence[set[str]], k: int
) -> tuple[float, float]:
    """Mean recall@k and mean reciprocal rank of ranked ids against relevant id sets."""
    if not rankings:
        return 0.0, 0.0
    recall_sum = reciprocal_sum = 0.0
    for ranking, wanted in zip(rankings, relevant, strict=True):
        if not wanted:
            continue
        top = list(ranking)[:k]
        recall_sum += len(wanted.intersection(top)) / len(wanted)
        for rank, item in enumerate(ranking, 1):
            if item in wanted:
                reciprocal_sum += 1.0 / rank
                break
    return recall_sum / len(rankings), reciprocal_sum / len(rankings)
