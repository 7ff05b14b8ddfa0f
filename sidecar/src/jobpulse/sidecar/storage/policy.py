"""RetentionPolicy: how much history to keep (a plain Struct, so settings can hold one cheaply)."""

from __future__ import annotations

import msgspec


class RetentionPolicy(msgspec.Struct, frozen=True):
    """How much history to keep."""

    job_days: float = 30.0
    log_lines_per_job: int = 10_000
    log_storage_mb: float = 1024.0
    batch_size: int = 500
