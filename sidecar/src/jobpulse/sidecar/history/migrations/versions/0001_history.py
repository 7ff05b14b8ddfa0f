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
        sa.Column("started_ns", sa.BigInteger),
        sa.Column("ended_ns", sa.BigInteger),
        sa.Column("updated_ns", sa.BigInteger),
        sa.Column("duration_s", sa.Float),
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
    op.create_index("ix_jobs_started", "jobs", ["started_ns", "id"])
    op.create_index("ix_jobs_status_started", "jobs", ["status", "started_ns"])
    op.create_index("ix_jobs_type_started", "jobs", ["job_type", "started_ns"])
    op.create_index("ix_jobs_name_started", "jobs", ["name", "started_ns"])
    op.create_index("ix_jobs_owner_started", "jobs", ["owner", "started_ns"])
    op.create_index("ix_jobs_ended", "jobs", ["ended_ns"])
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


def downgrade() -> None:
    op.drop_table("job_logs")
    op.drop_table("job_steps")
    op.drop_table("jobs")
