"""The history schema. Alembic migrations (``migrations/versions``) create and change it.

Timestamps are integer nanoseconds since the epoch, as the fold keeps them: they compare, sort and
bucket the same way on SQLite and PostgreSQL. ``jobs.state`` holds the whole folded JobState
(msgspec JSON), so a restart rebuilds memory exactly; the other columns exist to be queried.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
)

metadata = MetaData()

jobs = Table(
    "jobs",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("name", String(300)),
    Column("job_type", String(200)),
    Column("owner", String(200)),
    Column("status", String(16), nullable=False),
    Column("previous_status", String(16)),
    Column("processed", BigInteger, nullable=False, default=0),
    Column("failed", BigInteger, nullable=False, default=0),
    Column("total", BigInteger),
    Column("step", String(300)),
    Column("started_ns", BigInteger),
    Column("ended_ns", BigInteger),
    Column("updated_ns", BigInteger),
    Column("duration_s", Float),
    Column("expected_duration_s", Float),
    Column("host", String(300)),
    Column("pid", Integer),
    Column("service", String(300)),
    Column("trace_id", String(32)),
    Column("error_type", String(300)),
    Column("error_message", Text),
    Column("error_step", String(300)),
    Column("rss_bytes", BigInteger),
    Column("ident_seq", BigInteger, nullable=False, default=0),
    Column("log_lines", BigInteger, nullable=False, default=0),
    Column("log_bytes", BigInteger, nullable=False, default=0),
    Column("log_lines_dropped", BigInteger, nullable=False, default=0),
    Column("state", LargeBinary, nullable=False),
    Index("ix_jobs_started", "started_ns", "id"),
    Index("ix_jobs_status_started", "status", "started_ns"),
    Index("ix_jobs_type_started", "job_type", "started_ns"),
    Index("ix_jobs_name_started", "name", "started_ns"),
    Index("ix_jobs_owner_started", "owner", "started_ns"),
    Index("ix_jobs_ended", "ended_ns"),
)

job_steps = Table(
    "job_steps",
    metadata,
    Column("job_id", String(200), primary_key=True),
    Column("name", String(300), primary_key=True),
    Column("job_name", String(300)),
    Column("step_index", Integer),
    Column("state", String(16), nullable=False),
    Column("started_ns", BigInteger),
    Column("ended_ns", BigInteger),
    Column("duration_ns", BigInteger, nullable=False, default=0),
    Column("runs", Integer, nullable=False, default=0),
    Index("ix_job_steps_job_name", "job_name", "name"),
)

# seq 0 is never used by emitters (seqs start at 1): the retention marker line lives there.
MARKER_SEQ = 0

job_logs = Table(
    "job_logs",
    metadata,
    Column("job_id", String(200), primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("time_ns", BigInteger, nullable=False),
    Column("level", SmallInteger, nullable=False),
    Column("message", Text, nullable=False),
    Column("logger", String(300)),
    Column("attributes", Text),
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
