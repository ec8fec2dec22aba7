"""Alembic environment for newswatch.

Normally run by worker.store.migrate.migrate(url), which passes an open connection (inside
its own transaction and lock) as config.attributes["connection"]. From the alembic command
line the URL comes from `-x url=...` (see alembic.ini beside this file).
"""

from __future__ import annotations

import logging.config
from typing import Any, Literal

from alembic import context
from sqlalchemy import Connection

from worker.store.db import make_engine
from worker.store.tables import Base, UTCDateTime

config = context.config
target_metadata = Base.metadata


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    # Revisions spell out plain SQLAlchemy types, so they never import application code.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        render_item=_render_item,
        compare_type=True,
    )


def _run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return

    url = context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        raise SystemExit("pass the database with: alembic -x url=<database url> ...")
    engine = make_engine(url, sqlite_foreign_keys=False)
    try:
        with engine.begin() as connection:
            _configure(connection)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


def _run_offline() -> None:
    url = context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        raise SystemExit("pass the dialect with: alembic -x url=<database url> upgrade --sql")
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


if config.config_file_name is not None and "connection" not in config.attributes:
    logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)

if context.is_offline_mode():
    _run_offline()
else:
    _run_online()
