"""Saved evaluation questions of a knowledge base: kept with the base so that retrieval
settings can be compared on the same questions (the Chat page, `kb questions`, REST)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aiplayground.errors import NotFound, ValidationFailed
from aiplayground.rag.schemas import EvalQuestion, SavedQuestion
from aiplayground.store.rag_tables import KnowledgeQuestion

MAX_SAVED = 1_000


def saved(s: Session, base_id: str) -> list[SavedQuestion]:
    """A base's saved questions, oldest first."""
    rows = s.scalars(
        select(KnowledgeQuestion)
        .where(KnowledgeQuestion.base_id == base_id)
        .order_by(KnowledgeQuestion.created_at, KnowledgeQuestion.id)
    )
    return [_info(row) for row in rows]


def add(
    s: Session, base_id: str, items: Sequence[EvalQuestion], created_by: str
) -> list[SavedQuestion]:
    """Save questions with a base (at most MAX_SAVED in all)."""
    count = s.scalar(select(func.count()).where(KnowledgeQuestion.base_id == base_id))
    if int(count or 0) + len(items) > MAX_SAVED:
        raise ValidationFailed(
            f"a knowledge base keeps at most {MAX_SAVED} saved questions; it has {count}",
            details={"field": "questions"},
        )
    rows = [
        KnowledgeQuestion(
            base_id=base_id,
            question=item.question.strip(),
            relevant=list(dict.fromkeys(r.strip() for r in item.relevant if r.strip())),
            created_by=created_by,
        )
        for item in items
    ]
    for row, item in zip(rows, items, strict=True):
        if not row.question or not row.relevant:
            raise ValidationFailed(
                f"question {item.question[:80]!r} needs text and at least one relevant document",
                details={"field": "questions"},
            )
    s.add_all(rows)
    s.flush()
    return [_info(row) for row in rows]


def remove(s: Session, base_id: str, question_id: str) -> None:
    """Delete one saved question of a base."""
    row = s.get(KnowledgeQuestion, question_id)
    if row is None or row.base_id != base_id:
        raise NotFound(f"no saved question {question_id!r} in this knowledge base")
    s.delete(row)


def _info(row: KnowledgeQuestion) -> SavedQuestion:
    return SavedQuestion(
        id=row.id, question=row.question, relevant=list(row.relevant), created_at=row.created_at
    )
