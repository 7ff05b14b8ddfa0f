"""Control's table: pause/resume/cancel requests, with who asked, when and why, and what became of them."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text

from jobpulse.sidecar.storage.schema import metadata

# What became of a command (the ``state`` column): waiting for the job, answered by it, replaced by a
# later command before it was answered, or left unanswered when its job ended.
COMMAND_PENDING, COMMAND_ACKNOWLEDGED, COMMAND_SUPERSEDED, COMMAND_EXPIRED = (
    "pending",
    "acknowledged",
    "superseded",
    "expired",
)

control_commands = Table(
    "control_commands",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("job_id", String(200), nullable=False),
    Column("action", String(16), nullable=False),
    Column("reason", Text),
    Column("requested_by", String(200)),
    Column("requested_ns", BigInteger, nullable=False),
    Column("state", String(16), nullable=False),
    Column("resolved_ns", BigInteger),
    Index("ix_control_commands_job", "job_id", "id"),
)
