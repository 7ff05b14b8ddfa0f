"""Reading job history: filtered, sorted, keyset-paginated job lists and log lines.

Keyset ("seek") pagination: a cursor holds the sort value and id of the last row served, and the next
page starts strictly after it. Unlike offsets, pages stay stable while new jobs arrive.
"""

from __future__ import annotations

import base64
import math
import time
from collections.abc import AsyncIterator
from typing import Any, NamedTuple

import msgspec
from sqlalchemy import ColumnElement, and_, func, literal_column, or_, select, tuple_
from sqlalchemy import text as sql_text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from jobpulse.sidecar.history import rows
from jobpulse.sidecar.history.tables import JOBS_TEXT, job_logs, jobs
from jobpulse.sidecar.model.state import PENDING, JobState

SORT_COLUMNS = {
    "started_at": jobs.c.started_ns,
    "ended_at": jobs.c.ended_key,
    "duration": jobs.c.duration_key,
    "name": jobs.c.name_key,
}
# Totals are exact up to here; past it a page says "at least" rather than count a million rows.
COUNT_LIMIT = 10_000
# Counting gets this long; a count that would take longer gives way to a lower bound.
COUNT_BUDGET_S = 0.025
# The trigram index needs at least three characters to look anything up.
_TRIGRAM = 3
# A name prefix or substring matching at most this many jobs is fetched through its index; a
# broader one is found by walking jobs in page order, stopping when the page is full.
_NARROW_SEARCH = 2000
SORTS = tuple(f"{prefix}{name}" for name in SORT_COLUMNS for prefix in ("-", ""))


class CursorError(ValueError):
    """A pagination cursor that this server did not issue (or for another sort)."""


class JobFilter(msgspec.Struct, kw_only=True):
    """Which jobs to list. Times are nanoseconds since the epoch."""

    statuses: list[str] | None = None
    job_type: str | None = None
    name: str | None = None
    name_prefix: str | None = None
    owner: str | None = None
    text: str | None = None
    started_after: int | None = None
    started_before: int | None = None
    ended_after: int | None = None
    ended_before: int | None = None
    min_duration_s: float | None = None
    max_duration_s: float | None = None

    def conditions(self) -> dict[str, ColumnElement[bool]]:
        """The WHERE conditions by filter name, in forms every backend understands."""
        c = jobs.c
        conditions: dict[str, ColumnElement[bool]] = {}
        if self.statuses:
            conditions["statuses"] = c.status.in_(self.statuses)
        if self.job_type is not None:
            conditions["job_type"] = c.job_type == self.job_type
        if self.owner is not None:
            conditions["owner"] = c.owner == self.owner
        if self.name_prefix:
            # A range rather than LIKE 'x%', so the name index serves it on every backend.
            conditions["name_prefix"] = and_(c.name >= self.name_prefix, c.name < self.name_prefix + "\U0010ffff")
        if self.name:
            conditions["name"] = c.name.ilike(f"%{_escape_like(self.name)}%", escape="\\")
        if self.text:
            pattern = f"%{_escape_like(self.text)}%"
            conditions["text"] = or_(c.name.ilike(pattern, escape="\\"), c.error_message.ilike(pattern, escape="\\"))
        for name, column, low, high in (
            ("started", c.started_ns, self.started_after, self.started_before),
            ("ended", c.ended_ns, self.ended_after, self.ended_before),
        ):
            if low is not None:
                conditions[f"{name}_after"] = column >= low
            if high is not None:
                conditions[f"{name}_before"] = column < high
        if self.min_duration_s is not None:
            conditions["min_duration_s"] = c.duration_s >= self.min_duration_s
        if self.max_duration_s is not None:
            conditions["max_duration_s"] = c.duration_s <= self.max_duration_s
        return conditions

    def trigram_query(self) -> str | None:
        """The FTS5 query answering the name and text filters from the trigram index, if it can."""
        terms = []
        if self.name and len(self.name) >= _TRIGRAM:
            terms.append("name : " + _phrase(self.name))
        if self.text and len(self.text) >= _TRIGRAM:
            terms.append(_phrase(self.text))
        return " AND ".join(terms) or None


def _phrase(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


class _Plan(NamedTuple):
    """How to answer a filter: the page's WHERE conditions, and a query of the rows to count."""

    conditions: list[ColumnElement[bool]]
    countable: Any


async def _planned(connection: AsyncConnection, job_filter: JobFilter) -> _Plan:
    """The conditions of ``job_filter``, shaped so SQLite's planner takes the fast path.

    SQLite's planner does not know how many jobs a name prefix or a substring matches. A cheap probe
    (at most _NARROW_SEARCH + 1 rows) tells: a narrow match is best fetched through its index and
    sorted; a broad one is best found by walking jobs in page order and stopping once the page is full.
    Counting is another matter: it always goes through the index (the name index, or the trigram
    index alone when it answers every filter), so a broad match is counted, not timed out.
    """
    conditions = job_filter.conditions()
    counted = dict(conditions)
    countable = None
    if connection.dialect.name == "sqlite":
        prefix = conditions.get("name_prefix")
        if prefix is not None:
            probe = select(func.count()).select_from(
                select(jobs.c.id).where(prefix).limit(_NARROW_SEARCH + 1).subquery()
            )
            if (await connection.execute(probe)).scalar_one() > _NARROW_SEARCH:
                # The unary + keeps SQLite from driving the page from the name index.
                conditions["name_prefix"] = sql_text("+jobs.name >= :low AND +jobs.name < :high").bindparams(
                    low=job_filter.name_prefix, high=job_filter.name_prefix + "\U0010ffff"
                )
        trigram = job_filter.trigram_query()
        if trigram is not None:
            covered = {
                name for name in ("name", "text") if name in conditions and len(getattr(job_filter, name)) >= _TRIGRAM
            }
            probe = sql_text(f"SELECT rowid FROM {JOBS_TEXT} WHERE {JOBS_TEXT} MATCH :query LIMIT :limit")
            rowids = (await connection.execute(probe, {"query": trigram, "limit": _NARROW_SEARCH + 1})).scalars().all()
            if len(rowids) <= _NARROW_SEARCH:
                for name in covered:
                    del conditions[name], counted[name]
                conditions["trigram"] = counted["trigram"] = literal_column("jobs.rowid").in_(rowids)
            elif covered == conditions.keys():
                countable = probe.bindparams(query=trigram, limit=COUNT_LIMIT + 1).columns(literal_column("rowid"))
    if countable is None:
        countable = select(jobs.c.id).where(*counted.values()).limit(COUNT_LIMIT + 1)
    return _Plan(list(conditions.values()), countable)


async def count_within_budget(connection: AsyncConnection, query: Any) -> int | None:
    """Run a count within COUNT_BUDGET_S; None when it would take longer."""
    if connection.dialect.name == "postgresql":
        async with connection.begin_nested() as savepoint:
            await connection.exec_driver_sql(f"SET LOCAL statement_timeout = {int(COUNT_BUDGET_S * 1000)}")
            try:
                return (await connection.execute(query)).scalar_one()
            except DBAPIError:
                await savepoint.rollback()
                return None
    raw = (await connection.get_raw_connection()).driver_connection
    deadline = time.perf_counter() + COUNT_BUDGET_S
    # SQLite calls this every few thousand VM steps; a non-zero answer interrupts the statement.
    await raw.set_progress_handler(lambda: time.perf_counter() > deadline, 5000)
    try:
        return (await connection.execute(query)).scalar_one()
    except OperationalError:
        return None
    finally:
        await raw.set_progress_handler(None, 0)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class JobListPage(msgspec.Struct):
    """One page of stored jobs; ``total`` is exact when ``total_exact``, else a lower bound."""

    states: list[JobState]
    total: int
    total_exact: bool
    next_cursor: str | None


def encode_cursor(sort: str, value: Any, job_id: str) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode([sort, value, job_id])).decode().rstrip("=")


def decode_cursor(sort: str, cursor: str) -> tuple[Any, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        cursor_sort, value, job_id = msgspec.json.decode(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError, msgspec.DecodeError):
        raise CursorError(f"cursor {cursor!r} was not issued by this server") from None
    if cursor_sort != sort or not isinstance(job_id, str):
        raise CursorError(f"cursor {cursor!r} belongs to sort {cursor_sort!r}, not {sort!r}")
    if not _sort_value(sort.lstrip("-"), value):
        raise CursorError(f"cursor {cursor!r} was not issued by this server")
    return value, job_id


def _sort_value(column: str, value: Any) -> bool:
    """Whether ``value`` can be a value of sort column ``column`` (so the database can compare it)."""
    if column == "name":
        return isinstance(value, str)
    if type(value) is int:
        return -(2**63) <= value < 2**63
    return column == "duration" and type(value) is float and math.isfinite(value)


async def list_jobs(
    engine: AsyncEngine, job_filter: JobFilter, *, sort: str = "-started_at", limit: int = 50, cursor: str | None = None
) -> JobListPage:
    """A page of jobs matching ``job_filter``, ordered by ``sort`` (``-`` for descending), then id.

    The page's ids come from the indexes alone; only then are those few rows' states read, so the
    large state column never passes through a sort. The total is exact up to COUNT_LIMIT when the
    count fits COUNT_BUDGET_S; otherwise ``total_exact`` is false and ``total`` a lower bound.
    """
    if sort not in SORTS:
        raise ValueError(f"sort must be one of {list(SORTS)}, got {sort!r}")
    descending = sort.startswith("-")
    key = SORT_COLUMNS[sort.lstrip("-")]
    async with engine.connect() as connection:
        plan = await _planned(connection, job_filter)
        query = select(key.label("sort_key"), jobs.c.id).where(*plan.conditions)
        if cursor is not None:
            value, job_id = decode_cursor(sort, cursor)
            position = tuple_(key, jobs.c.id)
            query = query.where(position < tuple_(value, job_id) if descending else position > tuple_(value, job_id))
        order = (key.desc(), jobs.c.id.desc()) if descending else (key.asc(), jobs.c.id.asc())
        fetched = (await connection.execute(query.order_by(*order).limit(limit + 1))).all()
        page = fetched[:limit]
        blobs: dict[str, bytes] = {}
        if page:
            by_id = select(jobs.c.id, jobs.c.state).where(jobs.c.id.in_([row.id for row in page]))
            blobs = {row.id: row.state for row in await connection.execute(by_id)}
        counted = await count_within_budget(connection, select(func.count()).select_from(plan.countable.subquery()))
    next_cursor = None
    if len(fetched) > limit:
        last = page[-1]
        next_cursor = encode_cursor(sort, last.sort_key, last.id)
    if counted is None:
        total, exact = len(fetched), False
    else:
        total, exact = min(counted, COUNT_LIMIT), counted <= COUNT_LIMIT
    return JobListPage(
        states=[rows.decode_state(blobs[row.id]) for row in page],
        total=total,
        total_exact=exact,
        next_cursor=next_cursor,
    )


async def get_state(engine: AsyncEngine, job_id: str) -> JobState | None:
    async with engine.connect() as connection:
        blob = (await connection.execute(select(jobs.c.state).where(jobs.c.id == job_id))).scalar_one_or_none()
    return None if blob is None else rows.decode_state(blob)


async def load_states(engine: AsyncEngine, statuses: list[str], limit: int | None = None) -> list[JobState]:
    """Stored states with one of ``statuses``, newest first (what a restart rebuilds memory from)."""
    query = select(jobs.c.state).where(jobs.c.status.in_(statuses)).order_by(jobs.c.started_ns.desc())
    if limit is not None:
        query = query.limit(limit)
    async with engine.connect() as connection:
        return [rows.decode_state(blob) for blob in (await connection.execute(query)).scalars()]


class RunStart(NamedTuple):
    """A run of a job: its id, when it started, and its status now."""

    job_id: str
    started_ns: int
    status: str


async def latest_start(engine: AsyncEngine, column: str, value: str) -> RunStart | None:
    """The stored job whose ``column`` (``name`` or ``job_type``) is ``value`` that started last; jobs
    still waiting in a queue have not started."""
    c = jobs.c
    query = (
        select(c.id, c.started_ns, c.status)
        .where(c[column] == value, c.status != PENDING)
        .order_by(c.started_ns.desc())
        .limit(1)
    )
    async with engine.connect() as connection:
        row = (await connection.execute(query)).first()
    return None if row is None else RunStart(row.id, row.started_ns, row.status)


class LogFilter(msgspec.Struct, kw_only=True):
    """Which log lines of a job to read."""

    min_level: int = 0
    since_ns: int | None = None
    until_ns: int | None = None
    text: str | None = None
    after_seq: int = -1

    def matches(self, row: dict[str, Any]) -> bool:
        """The same test in memory, for lines not written yet."""
        return (
            row["seq"] > self.after_seq
            and row["level"] >= self.min_level
            and (self.since_ns is None or row["time_ns"] >= self.since_ns)
            and (self.until_ns is None or row["time_ns"] < self.until_ns)
            and (self.text is None or self.text.lower() in row["message"].lower())
        )

    def conditions(self, job_id: str) -> list[ColumnElement[bool]]:
        c = job_logs.c
        conditions = [c.job_id == job_id, c.seq > self.after_seq]
        if self.min_level:
            conditions.append(c.level >= self.min_level)
        if self.since_ns is not None:
            conditions.append(c.time_ns >= self.since_ns)
        if self.until_ns is not None:
            conditions.append(c.time_ns < self.until_ns)
        if self.text:
            conditions.append(c.message.ilike(f"%{_escape_like(self.text)}%", escape="\\"))
        return conditions


async def list_logs(engine: AsyncEngine, job_id: str, log_filter: LogFilter, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` stored lines of ``job_id`` matching ``log_filter``, in seq order."""
    query = select(job_logs).where(*log_filter.conditions(job_id)).order_by(job_logs.c.seq).limit(limit)
    async with engine.connect() as connection:
        return [dict(row._mapping) for row in await connection.execute(query)]


async def count_logs(engine: AsyncEngine, job_id: str, log_filter: LogFilter) -> int:
    query = select(func.count()).select_from(job_logs).where(*log_filter.conditions(job_id))
    async with engine.connect() as connection:
        return (await connection.execute(query)).scalar_one()


async def iter_logs(
    engine: AsyncEngine, job_id: str, log_filter: LogFilter, page_size: int = 5000
) -> AsyncIterator[dict[str, Any]]:
    """Every matching line, in pages, without holding a transaction open between pages."""
    after = log_filter.after_seq
    while True:
        page = await list_logs(engine, job_id, msgspec.structs.replace(log_filter, after_seq=after), page_size)
        for row in page:
            yield row
        if len(page) < page_size:
            return
        after = page[-1]["seq"]
