"""Every table module of the platform, imported so that `Base.metadata` knows them all.

A capability with tables of its own keeps them in `store/<capability>_tables.py` and adds
one import here; migrations (Alembic autogenerate) and `create_all` see only what is here.
"""

from aiplayground.store import chat_tables, rag_tables, tables, training_tables
from aiplayground.store.tables import Base

__all__ = ["Base", "chat_tables", "rag_tables", "tables", "training_tables"]
