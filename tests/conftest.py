"""Shared fixtures: databases (SQLite and a throw-away PostgreSQL database), platforms, apps."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from aiplayground.app import Platform, build_platform, create_app
from aiplayground.auth.principal import Role
from aiplayground.settings import Settings
from aiplayground.store.db import Database
from aiplayground.store.migrate import migrate

POSTGRES_ADMIN_URL = os.environ.get(
    "AIP_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def _postgres_reachable() -> bool:
    try:
        with psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The PostgreSQL admin URL; skipped (or failed, in CI) when the server is down."""
    if not _postgres_reachable():
        if os.environ.get("AIP_TEST_REQUIRE_POSTGRES"):
            pytest.fail(f"PostgreSQL is required but not reachable at {POSTGRES_ADMIN_URL}")
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}")
    return POSTGRES_ADMIN_URL


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped after the test."""
    name = f"aip_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = postgres_server.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL of each supported backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """A migrated database of each backend."""
    database = Database.from_url(database_url)
    migrate(database.engine)
    yield database
    database.dispose()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings rooted in a temporary data folder, API only, no demo content."""
    return Settings(
        home=tmp_path / "home",
        demo=False,
        server={"ui": False},  # type: ignore[arg-type]
    )


@pytest.fixture
def platform(settings: Settings) -> Iterator[Platform]:
    """A started platform on SQLite and a local artifact folder."""
    p = build_platform(settings)
    p.start()
    yield p
    p.close()


@pytest.fixture
def app(settings: Settings, platform: Platform) -> FastAPI:
    """The ASGI app over the test platform."""
    return create_app(settings, platform)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """An HTTP client for the app, without credentials."""
    with TestClient(app) as c:
        yield c


def make_token(platform: Platform, name: str, role: Role = Role.MEMBER) -> str:
    """Create (or reuse) a user and return a fresh API token for it."""
    user = platform.auth.ensure_user(name, role)
    return platform.auth.create_token(user.id, "test").token


@pytest.fixture
def admin_token(platform: Platform) -> str:
    """An API token of the bootstrap admin."""
    return make_token(platform, "admin", Role.ADMIN)


@pytest.fixture
def alice_token(platform: Platform) -> str:
    """An API token of a member named alice."""
    return make_token(platform, "alice")


@pytest.fixture
def bob_token(platform: Platform) -> str:
    """An API token of a member named bob."""
    return make_token(platform, "bob")


@pytest.fixture
def viewer_token(platform: Platform) -> str:
    """An API token of a viewer named vera."""
    return make_token(platform, "vera", Role.VIEWER)


def bearer(token: str) -> dict[str, str]:
    """Authorization header for a token."""
    return {"Authorization": f"Bearer {token}"}
