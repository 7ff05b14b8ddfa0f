"""ConfigRepository: the runtime changes replicas share, and the audit trail, in configuration's tables."""

from __future__ import annotations

import time
from typing import Any

import msgspec
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from jobpulse.sidecar.config.tables import config_changes, config_state
from jobpulse.sidecar.storage.engine import insert

_ROW_ID = 1


class ConfigRepository:
    """Reads and writes the runtime layer (with optimistic concurrency) and the audit rows."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def version(self) -> int:
        """The runtime layer's version; 0 before the first runtime change."""
        async with self.engine.connect() as connection:
            found = await connection.scalar(select(config_state.c.version).where(config_state.c.id == _ROW_ID))
        return found or 0

    async def read(self) -> tuple[int, dict[str, Any]]:
        """The runtime layer and its version."""
        query = select(config_state.c.version, config_state.c.document).where(config_state.c.id == _ROW_ID)
        async with self.engine.connect() as connection:
            row = (await connection.execute(query)).first()
        return (0, {}) if row is None else (row.version, msgspec.json.decode(row.document))

    async def write(self, expected: int, document: dict[str, Any], who: str, record: dict[str, Any]) -> int | None:
        """Store ``document`` as version ``expected + 1`` with its audit row, in one transaction.

        None when the stored version is no longer ``expected``: another replica changed the runtime
        layer meanwhile, and the change must be made again on top of theirs.
        """
        version = expected + 1
        values = {
            "version": version,
            "document": msgspec.json.encode(document).decode(),
            "updated_ns": time.time_ns(),
            "updated_by": who,
        }
        async with self.engine.begin() as connection:
            if expected == 0:
                statement = insert(self.engine, config_state).values(id=_ROW_ID, **values)
                result = await connection.execute(statement.on_conflict_do_nothing(index_elements=["id"]))
            else:
                result = await connection.execute(
                    update(config_state)
                    .where(config_state.c.id == _ROW_ID, config_state.c.version == expected)
                    .values(**values)
                )
            if result.rowcount != 1:
                return None
            await connection.execute(config_changes.insert().values(**record, version=version))
        return version

    async def record(self, record: dict[str, Any]) -> None:
        """An audit row of a change that is not a runtime one (a file reload) or of a rejected one."""
        async with self.engine.begin() as connection:
            await connection.execute(config_changes.insert().values(**record))

    async def history(self, limit: int, before_id: int | None = None) -> list[Any]:
        """Audit rows, newest first."""
        query = select(config_changes).order_by(config_changes.c.id.desc()).limit(limit)
        if before_id is not None:
            query = query.where(config_changes.c.id < before_id)
        async with self.engine.connect() as connection:
            return list(await connection.execute(query))
