"""Schedules' table: the schedules learned from jobs' start records, so a restart still knows them."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, String, Table

from jobpulse.sidecar.storage.schema import metadata

# One row per job name whose runs said when they run; a run saying something else replaces it.
learned_schedules = Table(
    "learned_schedules",
    metadata,
    Column("name", String(300), primary_key=True),
    Column("cron", String(200)),
    Column("every_s", Float),
    Column("timezone", String(64), nullable=False),
    Column("grace_s", Float, nullable=False),
    Column("since_ns", BigInteger, nullable=False),
    # The run it was learned from.
    Column("job_id", String(200), nullable=False),
)
