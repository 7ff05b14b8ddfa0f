"""ScheduleRepository: learned schedules in their table, and the last start of a job name or type in
history's."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from jobpulse.sidecar.history import queries
from jobpulse.sidecar.schedules.config import JOB_NAME
from jobpulse.sidecar.schedules.state import LEARNED, Schedule
from jobpulse.sidecar.schedules.tables import learned_schedules
from jobpulse.sidecar.storage.engine import insert


class ScheduleRepository:
    """Reads and writes learned schedules; reads last starts from the jobs' history."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def learned(self) -> list[Schedule]:
        async with self.engine.connect() as connection:
            rows = list(await connection.execute(select(learned_schedules)))
        return [
            Schedule(
                name=row.name,
                match=JOB_NAME,
                source=LEARNED,
                cron=row.cron,
                every_s=row.every_s,
                timezone=row.timezone,
                grace_s=row.grace_s,
                since_ns=row.since_ns,
            )
            for row in rows
        ]

    async def save(self, learned: list[tuple[Schedule, str]]) -> None:
        """Store each (schedule, id of the job it was learned from), replacing the name's earlier one."""
        async with self.engine.begin() as connection:
            for schedule, job_id in learned:
                values = {
                    "cron": schedule.cron,
                    "every_s": schedule.every_s,
                    "timezone": schedule.timezone,
                    "grace_s": schedule.grace_s,
                    "since_ns": schedule.since_ns,
                    "job_id": job_id,
                }
                statement = insert(self.engine, learned_schedules).values(name=schedule.name, **values)
                await connection.execute(statement.on_conflict_do_update(index_elements=["name"], set_=values))

    async def latest_start(self, match: str, name: str) -> queries.RunStart | None:
        """The last stored start of the jobs named ``name`` (or of type ``name``)."""
        return await queries.latest_start(self.engine, "name" if match == JOB_NAME else "job_type", name)
