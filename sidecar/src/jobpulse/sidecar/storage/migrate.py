"""Migrations: Alembic brings the shared schema to the newest revision when the sidecar starts."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).with_name("migrations")
# The advisory lock key migrations take on PostgreSQL (any constant the database's other users do not take).
_MIGRATION_LOCK = 0x6A6F6270756C7365  # "jobpulse"


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for the migrations in ``storage/migrations``, run on ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


async def migrate(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (default: the newest)."""

    def upgrade(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), revision)

    async with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            # Replicas starting together take turns: the first migrates, the others then find the
            # schema current. Held until this transaction ends.
            await connection.execute(select(func.pg_advisory_xact_lock(_MIGRATION_LOCK)))
        await connection.run_sync(upgrade)


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at (None before the first migration)."""

    def read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as connection:
        return await connection.run_sync(read)
