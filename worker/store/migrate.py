"""Bring a database to the newest schema: `migrate(url)`.

Runs the alembic revisions in worker/store/migrations without any alembic.ini. Safe to call
at every process start:
- idempotent: a database already at head is left untouched;
- all-or-nothing: every pending revision runs in one transaction (both databases have
  transactional DDL), so a failed upgrade leaves the previous schema;
- serialised: concurrent callers (worker and beat starting together) wait for each other,
  through an advisory lock on PostgreSQL and the write lock on SQLite.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from worker.store.db import make_engine

__all__ = ["MIGRATIONS_DIR", "alembic_config", "head_revision", "migrate"]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Arbitrary but fixed: the key of the PostgreSQL advisory lock held while migrating.
_PG_LOCK_KEY = 0x6E657773  # "news"


def migrate(url: str) -> None:
    """Upgrade the database at `url` to the head revision; a no-op when already there.

    Raises RuntimeError if, after a SQLite table rebuild, rows violate a foreign key.
    """
    # Foreign keys stay off on SQLite while migrating: batch mode rebuilds a table by
    # dropping it, and with foreign keys on that drop would cascade to the child rows.
    engine = make_engine(url, sqlite_foreign_keys=False)
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK_KEY})")
            command.upgrade(alembic_config(connection), "head")
            if connection.dialect.name == "sqlite":
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"migration left rows with dangling foreign keys: {broken}")
    finally:
        engine.dispose()


def alembic_config(connection: Connection | None = None) -> Config:
    """An alembic Config for our migrations; env.py uses `connection` when given."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision id shipped with this code."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no alembic revisions found in {MIGRATIONS_DIR}")
    return head
