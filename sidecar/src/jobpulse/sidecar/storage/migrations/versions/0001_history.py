"""Job history: jobs, their steps and their log lines.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("name", sa.String(300)),
        sa.Column("job_type", sa.String(200)),
        sa.Column("owner", sa.String(200)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("previous_status", sa.String(16)),
        sa.Column("processed", sa.BigInteger, nullable=False),
        sa.Column("failed", sa.BigInteger, nullable=False),
        sa.Column("total", sa.BigInteger),
        sa.Column("step", sa.String(300)),
        sa.Column("started_ns", sa.BigInteger, nullable=False),
        sa.Column("ended_ns", sa.BigInteger),
        sa.Column("updated_ns", sa.BigInteger),
        sa.Column("duration_s", sa.Float),
        sa.Column("name_key", sa.String(300), nullable=False),
        sa.Column("ended_key", sa.BigInteger, nullable=False),
        sa.Column("duration_key", sa.Float, nullable=False),
        sa.Column("expected_duration_s", sa.Float),
        sa.Column("host", sa.String(300)),
        sa.Column("pid", sa.Integer),
        sa.Column("service", sa.String(300)),
        sa.Column("trace_id", sa.String(32)),
        sa.Column("error_type", sa.String(300)),
        sa.Column("error_message", sa.Text),
        sa.Column("error_step", sa.String(300)),
        sa.Column("rss_bytes", sa.BigInteger),
        sa.Column("ident_seq", sa.BigInteger, nullable=False),
        sa.Column("log_lines", sa.BigInteger, nullable=False),
        sa.Column("log_bytes", sa.BigInteger, nullable=False),
        sa.Column("log_lines_dropped", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("state", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_jobs_started", "jobs", ["started_ns", "id", "status"])
    op.create_index("ix_jobs_status_started", "jobs", ["status", "started_ns", "id", "duration_s"])
    op.create_index("ix_jobs_type_started", "jobs", ["job_type", "started_ns", "id", "status", "duration_s"])
    op.create_index("ix_jobs_name_started", "jobs", ["name", "started_ns", "id", "status", "duration_s"])
    op.create_index("ix_jobs_owner_started", "jobs", ["owner", "started_ns", "id", "status", "duration_s"])
    op.create_index("ix_jobs_name_key", "jobs", ["name_key", "id"])
    op.create_index("ix_jobs_ended_key", "jobs", ["ended_key", "id"])
    op.create_index("ix_jobs_duration_key", "jobs", ["duration_key", "id"])
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_text_index()
    else:
        _postgresql_text_index()
    op.create_table(
        "job_steps",
        sa.Column("job_id", sa.String(200), primary_key=True),
        sa.Column("name", sa.String(300), primary_key=True),
        sa.Column("job_name", sa.String(300)),
        sa.Column("step_index", sa.Integer),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("started_ns", sa.BigInteger),
        sa.Column("ended_ns", sa.BigInteger),
        sa.Column("duration_ns", sa.BigInteger, nullable=False),
        sa.Column("runs", sa.Integer, nullable=False),
    )
    op.create_index("ix_job_steps_job_name", "job_steps", ["job_name", "name"])
    op.create_table(
        "job_logs",
        sa.Column("job_id", sa.String(200), primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True),
        sa.Column("time_ns", sa.BigInteger, nullable=False),
        sa.Column("level", sa.SmallInteger, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("logger", sa.String(300)),
        sa.Column("attributes", sa.Text),
    )


def _sqlite_text_index() -> None:
    # An external-content FTS5 table with the trigram tokenizer: substring search (LIKE '%x%' and
    # MATCH) over names and error messages without scanning every job. Triggers keep it in step;
    # the update trigger fires only when the indexed text changes, not on every state upsert.
    op.execute(
        "CREATE VIRTUAL TABLE jobs_text USING fts5("
        "name, error_message, content='jobs', content_rowid='rowid', tokenize='trigram')"
    )
    op.execute(
        "CREATE TRIGGER jobs_text_insert AFTER INSERT ON jobs BEGIN "
        "INSERT INTO jobs_text (rowid, name, error_message) VALUES (new.rowid, new.name, new.error_message); END"
    )
    op.execute(
        "CREATE TRIGGER jobs_text_delete AFTER DELETE ON jobs BEGIN "
        "INSERT INTO jobs_text (jobs_text, rowid, name, error_message) "
        "VALUES ('delete', old.rowid, old.name, old.error_message); END"
    )
    op.execute(
        "CREATE TRIGGER jobs_text_update AFTER UPDATE OF name, error_message ON jobs "
        "WHEN old.name IS NOT new.name OR old.error_message IS NOT new.error_message BEGIN "
        "INSERT INTO jobs_text (jobs_text, rowid, name, error_message) "
        "VALUES ('delete', old.rowid, old.name, old.error_message); "
        "INSERT INTO jobs_text (rowid, name, error_message) VALUES (new.rowid, new.name, new.error_message); END"
    )


def _postgresql_text_index() -> None:
    # pg_trgm lets the planner answer ILIKE '%x%' from a GIN index. Creating the extension needs a
    # privileged role on some installations: without it, search still works, by scanning.
    bind = op.get_bind()
    savepoint = bind.begin_nested()
    try:
        bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except sa.exc.DBAPIError:
        savepoint.rollback()
        return
    savepoint.commit()
    op.execute("CREATE INDEX ix_jobs_name_trgm ON jobs USING gin (name gin_trgm_ops)")
    op.execute("CREATE INDEX ix_jobs_error_trgm ON jobs USING gin (error_message gin_trgm_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("jobs_text_insert", "jobs_text_delete", "jobs_text_update"):
            op.execute(f"DROP TRIGGER {trigger}")
        op.execute("DROP TABLE jobs_text")
    op.drop_table("job_logs")
    op.drop_table("job_steps")
    op.drop_table("jobs")
