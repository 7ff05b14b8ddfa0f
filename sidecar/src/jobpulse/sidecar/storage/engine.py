"""The database engine: SQLite or PostgreSQL by URL, and the dialect helpers every feature's statements use."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Table, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool


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
