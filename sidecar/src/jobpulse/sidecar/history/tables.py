"""History's tables: jobs, their steps and log lines, and the rows storage refused (dead letters).

``jobs.state`` holds the whole folded JobState (msgspec JSON), so a restart rebuilds memory exactly; the
other columns exist to be queried. The tables live on the shared schema (``storage.schema``).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Table,
    Text,
)

from jobpulse.sidecar.storage.schema import metadata

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
    Column("started_ns", BigInteger, nullable=False),
    Column("ended_ns", BigInteger),
    Column("updated_ns", BigInteger),
    Column("duration_s", Float),
    # Sort keys: never NULL, so keyset pagination can compare them and an index can order by them.
    Column("name_key", String(300), nullable=False),
    Column("ended_key", BigInteger, nullable=False),
    Column("duration_key", Float, nullable=False),
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
    # Seconds the job waited in its queue before it started (NULL: not queued, or still waiting).
    Column("wait_s", Float),
    # Each index carries the id and the columns most often filtered together with its own (status,
    # duration), so a filtered, sorted page of ids — and its count — is read from the index alone.
    Index("ix_jobs_started", "started_ns", "id", "status"),
    Index("ix_jobs_status_started", "status", "started_ns", "id", "duration_s"),
    Index("ix_jobs_type_started", "job_type", "started_ns", "id", "status", "duration_s"),
    Index("ix_jobs_name_started", "name", "started_ns", "id", "status", "duration_s"),
    Index("ix_jobs_owner_started", "owner", "started_ns", "id", "status", "duration_s"),
    Index("ix_jobs_name_key", "name_key", "id"),
    Index("ix_jobs_ended_key", "ended_key", "id"),
    Index("ix_jobs_duration_key", "duration_key", "id"),
)

# Substring search over names and error messages: an FTS5 trigram index on SQLite (kept in step by
# triggers, see migration 0001), pg_trgm GIN indexes on PostgreSQL. Not in `metadata`: SQLAlchemy
# never creates or alters it; only the migration does.
JOBS_TEXT = "jobs_text"

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


# Job states and log lines the history writer could not store because of their data (a value the
# database cannot hold), set aside so they do not hold up the rows written with them. ``kind`` is
# "job" (a job's row and steps; its newest refused state replaces the previous one) or "log" (one
# line); ``payload`` is the refused data as JSON.
dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("at_ns", BigInteger, nullable=False),
    Column("job_id", String(200), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("error", Text, nullable=False),
    Column("payload", Text, nullable=False),
    Index("ix_dead_letters_at", "at_ns"),
    Index("ix_dead_letters_job", "job_id", "kind"),
)
