"""Database fixtures: `db_url` gives each test an empty database, SQLite or PostgreSQL.

Import `db_url` into a test module to run its tests on both backends. PostgreSQL is the
server on 127.0.0.1:5432 (override with TEST_POSTGRES_URL, an admin URL); each importing
module gets its own database `newswatch_test_<random>`, dropped afterwards, and each test
starts from an empty schema in it. Without a reachable server the PostgreSQL tests skip,
or fail when CI=true.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import URL

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def postgres_admin_url() -> str:
    return os.environ.get("TEST_POSTGRES_URL", DEFAULT_ADMIN_URL)


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: PostgreSQL is required)")
    pytest.skip(f"{reason}; start PostgreSQL or set TEST_POSTGRES_URL to run these tests")


@pytest.fixture(scope="module")
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for one test module, as a libpq URL; dropped afterwards."""
    admin_url = postgres_admin_url()
    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        _unavailable(f"PostgreSQL not reachable at {admin_url}: {exc}".strip())
    name = f"newswatch_test_{secrets.token_hex(6)}"
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield psycopg.conninfo.make_conninfo(admin_url, dbname=name)
        finally:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _reset_postgres(conninfo: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


def _sqlalchemy_url(conninfo: str) -> str:
    params = psycopg.conninfo.conninfo_to_dict(conninfo)
    url = URL.create(
        "postgresql+psycopg",
        username=str(params.get("user", "postgres")),
        password=str(params["password"]) if params.get("password") else None,
        host=str(params.get("host", "127.0.0.1")),
        port=int(params.get("port") or 5432),
        database=str(params["dbname"]),
    )
    return url.render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database's SQLAlchemy URL: a SQLite file under tmp_path, or PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db' / 'newswatch.db'}"
    conninfo: str = request.getfixturevalue("postgres_database")
    _reset_postgres(conninfo)
    return _sqlalchemy_url(conninfo)
