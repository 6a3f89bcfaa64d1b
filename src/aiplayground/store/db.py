"""Database engine creation: plain URLs in, the right driver and pragmas out."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from aiplayground.errors import InvalidInput, Unavailable

KNOWN_SCHEMES = ("sqlite", "postgresql")


def normalize_database_url(url: str) -> str:
    """Map a plain `postgresql://` or `sqlite:///` URL to the driver this package ships."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in KNOWN_SCHEMES:
        raise InvalidInput(
            f"unsupported database URL scheme {backend!r}; known: {', '.join(KNOWN_SCHEMES)}"
        )
    if backend == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers proceed while a writer commits; busy_timeout turns lock
    # contention between the server and workers into waiting instead of errors.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def create_db_engine(url: str) -> Engine:
    """Create an engine for a plain database URL."""
    normalized = normalize_database_url(url)
    parsed = make_url(normalized)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(normalized, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(normalized, pool_pre_ping=True, pool_size=10, max_overflow=20)


class Database:
    """An engine and its session factory; the one way services reach the metadata store."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def from_url(cls, url: str) -> Database:
        """Open the database at a plain URL."""
        return cls(create_db_engine(url))

    @property
    def dialect(self) -> str:
        """The backend name: 'sqlite' or 'postgresql'."""
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed on success, rolled back on error."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except OperationalError as exc:
            session.rollback()
            raise Unavailable("the metadata database is not reachable") from exc
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def check(self) -> None:
        """Raise Unavailable when the database does not answer."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except OperationalError as exc:
            raise Unavailable("the metadata database is not reachable") from exc

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
