"""rag: saved evaluation questions of knowledge bases

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 23:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import aiplayground.store.tables

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "knowledge_questions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("base_id", sa.String(length=32), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("relevant", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=32), nullable=True),
        sa.Column(
            "created_at", aiplayground.store.tables.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["base_id"],
            ["knowledge_bases.id"],
            name=op.f("fk_knowledge_questions_base_id_knowledge_bases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_questions")),
    )
    with op.batch_alter_table("knowledge_questions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_knowledge_questions_base_id"), ["base_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("knowledge_questions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_knowledge_questions_base_id"))
    op.drop_table("knowledge_questions")
