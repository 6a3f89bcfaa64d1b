"""Metadata store: SQLAlchemy tables, the database handle and migrations."""

from aiplayground.store.db import Database, create_db_engine, normalize_database_url
from aiplayground.store.migrate import migrate

__all__ = ["Database", "create_db_engine", "migrate", "normalize_database_url"]
