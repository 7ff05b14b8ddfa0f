"""One flush's worth of history written in one transaction, wherever it runs: on the sidecar's event
loop or in the writer process (``writer_process``).

A row the database refuses for its data is isolated and set aside as a dead letter in the same
transaction; any other failure is raised, and the caller keeps the whole batch for the next attempt.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from operator import itemgetter
from typing import Any, NamedTuple

from sqlalchemy import literal_column, or_
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from jobpulse.sidecar.history import dead_letters, rows
from jobpulse.sidecar.history.tables import job_logs, job_steps, jobs
from jobpulse.sidecar.model.state import TERMINAL_STATUSES, JobState
from jobpulse.sidecar.storage.engine import insert, transaction


class Refusal(NamedTuple):
    """A row set aside: which kind, whose, the seq of a log line, and the database's reason (plain
    values, so a refusal crosses from the writer process as it is)."""

    kind: str
    job_id: str
    seq: int | None
    reason: str


class _Unit(NamedTuple):
    """What is written, or set aside, whole: a job's row with its steps, or one log line."""

    kind: str
    job_id: str
    data: Any  # the JobState or the log row: what a dead letter keeps
    job: dict[str, Any] | None = None
    steps: list[dict[str, Any]] = []
    line: dict[str, Any] | None = None


class BatchWriter:
    """Writes job states, their steps and log lines to ``engine`` with statements compiled once."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._statements = _Statements(engine)

    async def write(self, states: list[JobState], lines: list[dict[str, Any]]) -> list[Refusal]:
        """Write a batch in one transaction; return the rows set aside, with why."""
        bytes_by_job: dict[str, int] = {}
        for row in lines:
            bytes_by_job[row["job_id"]] = bytes_by_job.get(row["job_id"], 0) + rows.log_row_bytes(row)
        units: list[_Unit] = []
        refused: list[tuple[_Unit, Exception]] = []
        for state in states:
            unit = _Unit(dead_letters.KIND_JOB, state.id, state)
            try:
                job = rows.job_row(state)
                steps = rows.step_rows(state)
            except Exception as error:
                # Turning one state into rows depends on nothing but that state: a retry fails alike.
                refused.append((unit, error))
                continue
            job["log_bytes"] = bytes_by_job.pop(state.id, 0)
            units.append(unit._replace(job=job, steps=steps))
        units += [_Unit(dead_letters.KIND_LOG, row["job_id"], row, line=row) for row in lines]
        at_ns = time.time_ns()
        async with transaction(self.engine) as connection:
            refused += await self._write_or_isolate(connection, units)
            if refused:
                letters = [
                    dead_letters.letter(unit.kind, unit.job_id, error, unit.data, at_ns) for unit, error in refused
                ]
                await dead_letters.set_aside(connection, letters)
        return [
            Refusal(
                unit.kind,
                unit.job_id,
                unit.data["seq"] if unit.kind == dead_letters.KIND_LOG else None,
                dead_letters.describe(error),
            )
            for unit, error in refused
        ]

    async def _write_or_isolate(self, connection: AsyncConnection, units: list[_Unit]) -> list[tuple[_Unit, Exception]]:
        """Write ``units``, or, when the database refuses them for their data, every one it takes.

        Each attempt runs in a savepoint; a refused group is halved until the rows at fault stand
        alone, so a few bad rows among n cost about 2·log2(n) extra statements. Returns the refused
        units with the reason; any other failure is raised.
        """
        if not units:
            return []
        try:
            async with connection.begin_nested():
                await self._execute(connection, units)
            return []
        except Exception as error:
            if not dead_letters.is_data_error(error):
                raise
            if len(units) == 1:
                return [(units[0], error)]
        middle = len(units) // 2
        first = await self._write_or_isolate(connection, units[:middle])
        return first + await self._write_or_isolate(connection, units[middle:])

    async def _execute(self, connection: AsyncConnection, units: list[_Unit]) -> None:
        statements = self._statements
        job_rows = [unit.job for unit in units if unit.job is not None]
        step_rows = [row for unit in units for row in unit.steps]
        line_rows = [unit.line for unit in units if unit.line is not None]
        for statement, batch in (
            (statements.upsert_jobs, job_rows),
            (statements.upsert_steps, step_rows),
            (statements.insert_lines, line_rows),
        ):
            if batch:
                await connection.exec_driver_sql(statement.sql, list(map(statement.values, batch)))


class _Batch(NamedTuple):
    """A write statement compiled once for the engine's dialect, and the getter turning a row into its
    parameters, in the statement's order: SQLAlchemy's per-row parameter processing costs more than
    the database's own work on a batch, and these columns need none (ints, floats, text, bytes)."""

    sql: str
    values: Callable[[dict[str, Any]], tuple[Any, ...]]


def _batch(engine: AsyncEngine, statement: Any, columns: list[str]) -> _Batch:
    compiled = statement.compile(dialect=engine.dialect, column_keys=columns)
    return _Batch(compiled.string, itemgetter(*compiled.positiontup))


class _Statements:
    """The three write statements, built once per dialect."""

    def __init__(self, engine: AsyncEngine) -> None:
        # log_lines_dropped belongs to retention: the writer never sets it (a new row starts at 0).
        job_insert = insert(engine, jobs).values(log_lines_dropped=literal_column("0"))
        excluded = job_insert.excluded
        written = [column.name for column in jobs.columns if column.name != "log_lines_dropped"]
        updated = {name: excluded[name] for name in written if name != "id"}
        updated["log_bytes"] = jobs.c.log_bytes + excluded.log_bytes
        # A job this process knows only from stray late events (no start seen) must not overwrite
        # the full record of a finished job.
        self.upsert_jobs = _batch(
            engine,
            job_insert.on_conflict_do_update(
                index_elements=[jobs.c.id],
                set_=updated,
                where=or_(
                    jobs.c.status.notin_([literal_column(f"'{status}'") for status in sorted(TERMINAL_STATUSES)]),
                    excluded.ident_seq != literal_column("0"),
                ),
            ),
            written,
        )
        step_insert = insert(engine, job_steps)
        self.upsert_steps = _batch(
            engine,
            step_insert.on_conflict_do_update(
                index_elements=[job_steps.c.job_id, job_steps.c.name],
                set_={
                    column.name: step_insert.excluded[column.name]
                    for column in job_steps.columns
                    if column.name not in ("job_id", "name")
                },
            ),
            [column.name for column in job_steps.columns],
        )
        self.insert_lines = _batch(
            engine,
            insert(engine, job_logs).on_conflict_do_nothing(index_elements=[job_logs.c.job_id, job_logs.c.seq]),
            [column.name for column in job_logs.columns],
        )
