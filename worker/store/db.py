"""Engines and sessions: the only place that knows how to connect.

Nothing connects at import time; callers build one engine per process from settings and
pass the session factory on (AppContext).

SQLite engines get, on every new connection: WAL journal mode (readers do not block the
writer), foreign keys ON (so ON DELETE CASCADE works), a busy timeout (a locked database
waits instead of failing), and `BEGIN IMMEDIATE` for every transaction that may write (see
_sqlite_begin); sessions from make_session_factory(engine, read_only=True) do not block.
PostgreSQL engines use psycopg 3 and check pooled connections before use.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Connection, CursorResult, Engine, Result, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["SQLITE_BUSY_TIMEOUT_MS", "make_engine", "make_session_factory", "session_scope"]

SQLITE_BUSY_TIMEOUT_MS = 15_000

_READ_ONLY = "newswatch_sqlite_read_only"  # execution option: begin a deferred transaction


def make_engine(url: str, *, sqlite_foreign_keys: bool = True) -> Engine:
    """Create an engine for `url` (sqlite:///path/file.db or postgresql://user@host/db).

    A plain "postgresql://" or "postgres://" URL is given the psycopg 3 driver. For a
    SQLite file the parent folder is created. `sqlite_foreign_keys=False` exists only for
    migrations, which must rebuild tables without cascading deletes.
    """
    parsed = _normalise_url(make_url(url))
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, foreign_keys=sqlite_foreign_keys)
    return create_engine(parsed, pool_pre_ping=True)


def make_session_factory(engine: Engine, *, read_only: bool = False) -> sessionmaker[Session]:
    """Sessions whose loaded rows stay readable after commit (no expiry, no lazy reloads).

    `read_only=True` is for sessions that never write (listings, reports): on SQLite they
    read a snapshot without waiting for a writer; on PostgreSQL writes are refused.
    """
    bind = engine
    if read_only:
        if engine.dialect.name == "sqlite":
            bind = engine.execution_options(**{_READ_ONLY: True})
        else:
            bind = engine.execution_options(postgresql_readonly=True)
    return sessionmaker(bind, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit when the block ends, roll back if it raises."""
    with factory.begin() as session:
        yield session


def _normalise_url(url: URL) -> URL:
    if url.drivername in ("postgresql", "postgres"):
        return url.set(drivername="postgresql+psycopg")
    return url


def _sqlite_engine(url: URL, *, foreign_keys: bool) -> Engine:
    database = url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN away from the sqlite3 module: its legacy mode never begins a
        # transaction before SELECT or SAVEPOINT, which breaks savepoints and isolation.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            # First, so that switching a new database to WAL also waits for other processes.
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")  # durable enough under WAL, much faster
            cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
        finally:
            cursor.close()

    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_begin(connection: Connection) -> None:
    if connection.get_execution_options().get(_READ_ONLY):
        connection.exec_driver_sql("BEGIN")
        return
    # IMMEDIATE takes the write lock up front. A deferred transaction that reads and then
    # writes fails at once with SQLITE_BUSY when another writer got in between (the busy
    # timeout cannot help there); IMMEDIATE waits for the lock instead. The price: a
    # writing session waits for the one before it to finish, reads included.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def dialect_insert(session: Session, entity: Any) -> postgresql.Insert | sqlite.Insert:
    """The dialect's INSERT, which has on_conflict_do_nothing/do_update and `excluded`."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(entity)
    if dialect == "sqlite":
        return sqlite.insert(entity)
    raise NotImplementedError(f"upserts are written for SQLite and PostgreSQL, not {dialect}")


def rowcount(result: Result[Any]) -> int:
    """Rows an UPDATE or DELETE touched (Session.execute is typed for the general case)."""
    return int(cast(CursorResult[Any], result).rowcount)
