"""Control's table: pause/resume/cancel requests, with who asked, when and why, and what became of them."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text

from jobpulse.sidecar.storage.schema import metadata

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
