"""The metadata store: URL handling, migrations and timestamps on each backend."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import inspect, select

from aiplayground.errors import InvalidInput, Unavailable
from aiplayground.store.db import Database, normalize_database_url
from aiplayground.store.migrate import migrate
from aiplayground.store.tables import User


def test_plain_urls_get_the_shipped_driver() -> None:
    assert normalize_database_url("postgresql://u@h:5432/d").startswith("postgresql+psycopg://")
    assert normalize_database_url("sqlite:///x.db") == "sqlite:///x.db"
    with pytest.raises(InvalidInput, match="known: sqlite, postgresql"):
        normalize_database_url("mysql://u@h/d")


def test_migrations_create_the_tables_and_are_idempotent(db: Database) -> None:
    migrate(db.engine)  # a second run is a no-op
    tables = set(inspect(db.engine).get_table_names())
    assert {"users", "api_tokens", "ui_sessions", "login_links", "alembic_version"} <= tables


def test_timestamps_round_trip_as_aware_utc(db: Database) -> None:
    with db.session() as s:
        s.add(User(name="tz"))
    with db.session() as s:
        created = s.scalar(select(User.created_at).where(User.name == "tz"))
    assert created is not None
    assert created.tzinfo is not None
    assert abs((datetime.now(UTC) - created).total_seconds()) < 60


def test_sqlite_runs_in_wal_mode(tmp_path: object) -> None:
    database = Database.from_url(f"sqlite:///{tmp_path}/wal.db")
    with database.engine.connect() as conn:
        mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
    assert mode == "wal"


def test_unreachable_database_is_unavailable() -> None:
    database = Database.from_url("postgresql://nobody@127.0.0.1:1/none")
    with pytest.raises(Unavailable):
        database.check()
