"""The database: one async SQLAlchemy engine, SQLite or PostgreSQL by URL, migrated on start."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Table, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

MIGRATIONS = Path(__file__).with_name("migrations")


class DatabaseError(ValueError):
    """The database URL cannot be used; the message says why."""


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the API read while the history writer writes; NORMAL sync is durable across
    # process crashes (only an OS crash can lose the last transactions).
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def create_engine(url: str) -> AsyncEngine:
    """An async engine for ``url`` (``sqlite+aiosqlite:///file.db`` or ``postgresql+asyncpg://...``)."""
    try:
        parsed = make_url(url)
    except Exception as error:
        raise DatabaseError(f"database_url {url!r} is not a database URL: {error}") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.drivername != "sqlite+aiosqlite":
            parsed = parsed.set(drivername="sqlite+aiosqlite")
        in_memory = parsed.database in (None, "", ":memory:")
        if not in_memory:
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(parsed, poolclass=StaticPool if in_memory else None)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    if backend == "postgresql":
        if parsed.drivername != "postgresql+asyncpg":
            parsed = parsed.set(drivername="postgresql+asyncpg")
        return create_async_engine(parsed, pool_size=5, max_overflow=5, pool_pre_ping=True)
    raise DatabaseError(f"database_url {url!r}: only sqlite and postgresql are supported")


def insert(engine: AsyncEngine, table: Table) -> Any:
    """An INSERT for ``table`` that supports ``on_conflict_do_update``/``do_nothing`` on this dialect."""
    if engine.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


@asynccontextmanager
async def transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """``engine.begin()``, in which savepoints (``begin_nested``) keep their meaning on SQLite too.

    Python's sqlite3 driver opens its transaction only at the first write: a savepoint taken before it
    would open the real transaction itself, and releasing that savepoint would commit everything so far.
    """
    async with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            await connection.exec_driver_sql("BEGIN")
        yield connection


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


async def migrate(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (default: the newest)."""

    def upgrade(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), revision)

    async with engine.begin() as connection:
        await connection.run_sync(upgrade)


async def current_revision(engine: AsyncEngine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    def read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as connection:
        return await connection.run_sync(read)
