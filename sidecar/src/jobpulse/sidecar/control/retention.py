"""Control's share of retention: commands the job answered (or that lapsed) expire with the jobs of their time.

A command is resolved when the job acknowledged it, a later one superseded it or its job ended without
answering; one resolved longer ago than ``retention_days`` goes. A pending command stays: its job may
still be running. ``expire_commands`` is registered with the storage sweep (``storage.retention``).
"""

from __future__ import annotations

from jobpulse.sidecar.control.tables import control_commands
from jobpulse.sidecar.storage.policy import RetentionPolicy
from jobpulse.sidecar.storage.retention import ReportRow, RetentionCounts, Sweep


class CommandCounts(RetentionCounts):
    """Resolved control commands that expired."""

    commands_expired: int = 0

    def rows(self, policy: RetentionPolicy) -> list[ReportRow]:
        return [(f"commands resolved over {policy.job_days:g} days ago", f"{self.commands_expired:,} commands", "")]


async def expire_commands(sweep: Sweep) -> CommandCounts:
    """Control commands resolved longer ago than the policy keeps."""
    # Operators make commands, so the table stays small: a scan per sweep needs no index of its own.
    expired = control_commands.c.resolved_ns < sweep.cutoff_ns()
    counts = CommandCounts()
    async with sweep.engine.begin() as connection:
        counts.commands_expired = await sweep.expire(connection, control_commands, expired)
    return counts
