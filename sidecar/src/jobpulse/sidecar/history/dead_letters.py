"""Dead letters: job states and log lines history storage refused for their data, kept for reading.

A value the database cannot hold (an integer beyond 64 bits, a NUL character in PostgreSQL text, a
string longer than its column) fails the same way however often it is written. The history writer
sets such rows aside here instead of retrying them forever, so the rows written with them go through.
A job's newest refused state replaces its previous one; every refused log line is kept.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import msgspec
from sqlalchemy import delete, exc, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from jobpulse.sidecar.history.tables import dead_letters

KIND_JOB = "job"
KIND_LOG = "log"

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_MAX_JOB_ID = dead_letters.c.job_id.type.length
_MAX_ERROR = 2000
# PostgreSQL SQLSTATE classes: 22 data exception (out of range, invalid text), 23 integrity
# constraint violation. Connection (08), transaction rollback (40), resource (53) and operator (57)
# failures are not the data's fault.
_DATA_SQLSTATE_CLASSES = frozenset({"22", "23"})


def is_data_error(error: BaseException) -> bool:
    """Whether writing the same rows again would fail again: the data's fault, not the database's.

    sqlite3 raises OverflowError, ValueError (a string it cannot encode) and TypeError while binding a
    value, unwrapped; SQLAlchemy raises DataError and IntegrityError; PostgreSQL says so by SQLSTATE.
    A lost connection, a lock or statement timeout, a serialization failure are none of these: retrying
    cures them.
    """
    if isinstance(error, exc.DataError | exc.IntegrityError):
        return True
    if isinstance(error, exc.DBAPIError):
        sqlstate = getattr(error.orig, "sqlstate", None)
        return isinstance(sqlstate, str) and sqlstate[:2] in _DATA_SQLSTATE_CLASSES
    if isinstance(error, exc.StatementError):
        # A bind processor failed before the driver saw the value.
        error = error.orig
    return isinstance(error, OverflowError | ValueError | TypeError)


def describe(error: BaseException) -> str:
    """The driver's own words for ``error`` (SQLAlchemy's wrapper adds the statement and parameters)."""
    cause = error
    while (inner := getattr(cause, "orig", None)) is not None and inner is not cause:
        cause = inner
    return f"{type(cause).__name__}: {cause}"


def _clean(text: str) -> str:
    """``text`` without what UTF-8 cannot encode (lone surrogates), escaped instead."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode()
    return text


def _column_text(text: str, limit: int) -> str:
    # PostgreSQL text cannot hold NUL: a dead letter must be storable whatever refused the original.
    return _clean(text).replace("\x00", "\\x00")[:limit]


def json_safe(value: Any) -> Any:
    """``value`` (plain builtins) with what JSON readers cannot take as text: integers beyond 64 bits,
    infinities and NaN, strings UTF-8 cannot encode."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if _INT64_MIN <= value <= _INT64_MAX else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return _clean(value)
    if isinstance(value, dict):
        return {_clean(str(key)): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return _clean(str(value))


def letter(kind: str, job_id: str, error: BaseException, data: Any, at_ns: int) -> dict[str, Any]:
    """The dead_letters row for ``data`` (a JobState or a log row) refused with ``error``."""
    payload = msgspec.json.encode(json_safe(msgspec.to_builtins(data))).decode()
    return {
        "at_ns": at_ns,
        "job_id": _column_text(job_id, _MAX_JOB_ID),
        "kind": kind,
        "error": _column_text(describe(error), _MAX_ERROR),
        "payload": payload,
    }


async def set_aside(connection: AsyncConnection, letters: Sequence[dict[str, Any]]) -> None:
    """Store ``letters`` (rows from :func:`letter`); a job's new state letter replaces its older one."""
    job_ids = sorted({row["job_id"] for row in letters if row["kind"] == KIND_JOB})
    if job_ids:
        await connection.execute(
            delete(dead_letters).where(dead_letters.c.kind == KIND_JOB, dead_letters.c.job_id.in_(job_ids))
        )
    await connection.execute(dead_letters.insert(), list(letters))


async def page(
    engine: AsyncEngine, limit: int, before_id: int | None = None, job_id: str | None = None
) -> tuple[list[dict[str, Any]], int]:
    """Up to ``limit`` letters, newest first, older than ``before_id``; and how many match in all."""
    conditions = [] if job_id is None else [dead_letters.c.job_id == job_id]
    query = select(dead_letters).where(*conditions)
    if before_id is not None:
        query = query.where(dead_letters.c.id < before_id)
    async with engine.connect() as connection:
        # Counted first: under READ COMMITTED a write may commit between the two statements, and a page
        # must never hold fewer of the letters than the total it reports says exist.
        total = (
            await connection.execute(select(func.count()).select_from(dead_letters).where(*conditions))
        ).scalar_one()
        found = (await connection.execute(query.order_by(dead_letters.c.id.desc()).limit(limit))).mappings().all()
    return [dict(row) for row in found], total
