"""Control's part of the retention sweep, on a real SQLite file and a real PostgreSQL server."""

from __future__ import annotations

from sqlalchemy import select

from jobpulse.sidecar.control.plugin import ControlFeature
from jobpulse.sidecar.control.retention import CommandCounts, expire_commands
from jobpulse.sidecar.control.tables import control_commands
from jobpulse.sidecar.storage.policy import RetentionPolicy
from jobpulse.sidecar.storage.retention import RetentionSweeper
from tests.support.job_events import T0, S

DAY = 86400 * S


async def test_commands_resolved_before_the_retention_window_expire_and_pending_ones_stay(engine):
    def command(job_id, state, requested_ns, resolved_ns):
        return {
            "job_id": job_id,
            "action": "pause",
            "reason": None,
            "requested_by": "ops",
            "requested_ns": requested_ns,
            "state": state,
            "resolved_ns": resolved_ns,
        }

    async with engine.begin() as connection:
        await connection.execute(
            control_commands.insert(),
            [
                command("old-acknowledged", "acknowledged", T0, T0 + S),
                command("old-expired", "expired", T0, T0 + 2 * S),
                command("old-pending", "pending", T0, None),
                command("recent", "acknowledged", T0 + 29 * DAY, T0 + 29 * DAY + S),
            ],
        )
    assert expire_commands in ControlFeature.retention_parts, "the running sidecar and `jobpulse prune` sweep it"
    retention = RetentionSweeper(engine, RetentionPolicy(), [expire_commands], clock_ns=lambda: T0 + 31 * DAY)
    assert (await retention.sweep(dry_run=True)).part(CommandCounts).commands_expired == 2
    assert (await retention.sweep()).part(CommandCounts).commands_expired == 2
    async with engine.connect() as connection:
        left = sorted((await connection.execute(select(control_commands.c.job_id))).scalars())
    assert left == ["old-pending", "recent"]
