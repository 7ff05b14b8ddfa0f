"""Alembic migrations: from nothing to head, and from the previous revision (with data) to head."""

from __future__ import annotations

import asyncio

from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

# Each feature's tables join the shared metadata when their module is imported: import them all.
from jobpulse.sidecar.alerting import tables as alerting_tables  # noqa: F401
from jobpulse.sidecar.auth import tables as auth_tables  # noqa: F401
from jobpulse.sidecar.config import tables as config_tables  # noqa: F401
from jobpulse.sidecar.control import tables as control_tables  # noqa: F401
from jobpulse.sidecar.history import queries
from jobpulse.sidecar.history import tables as history_tables  # noqa: F401
from jobpulse.sidecar.history.rows import job_row
from jobpulse.sidecar.schedules import tables as schedules_tables  # noqa: F401
from jobpulse.sidecar.storage.engine import create_engine
from jobpulse.sidecar.storage.migrate import alembic_config, current_revision, migrate
from jobpulse.sidecar.storage.schema import metadata
from jobpulse.sidecar.store import JobStore
from tests.support.job_events import run

SCRIPTS = ScriptDirectory.from_config(alembic_config())
HEAD = SCRIPTS.get_current_head()


async def table_columns(engine) -> dict[str, set[str]]:
    async with engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: {
                table: {column["name"] for column in inspect(sync).get_columns(table)}
                for table in inspect(sync).get_table_names()
            }
        )


async def test_an_empty_database_is_migrated_to_the_schema_the_code_uses(database_url):
    engine = create_engine(database_url)
    await migrate(engine)
    assert await current_revision(engine) == HEAD
    columns = await table_columns(engine)
    for table in metadata.sorted_tables:
        assert columns[table.name] == {column.name for column in table.columns}, table.name
    assert ("jobs_text" in columns) == database_url.startswith("sqlite"), "the substring-search index"
    await migrate(engine)  # running again at start-up is a no-op
    await engine.dispose()


async def test_a_database_at_the_previous_revision_keeps_its_data(database_url):
    previous = SCRIPTS.get_revision(HEAD).down_revision
    assert previous, "there is a previous revision to upgrade from"
    engine = create_engine(database_url)
    await migrate(engine, previous)
    assert await current_revision(engine) == previous
    store = JobStore()
    events = run(name="from-before-the-upgrade", log_lines=2)
    store.apply_all(events)
    state = store.get(events[0].job_id)
    row = job_row(state)
    # Written with plain SQL and the previous revision's columns, as an older sidecar would have.
    existing = (await table_columns(engine))["jobs"]
    columns = [name for name in row if name in existing and name != "state"] + [
        "state",
        "log_bytes",
        "log_lines_dropped",
    ]
    values = {**row, "log_bytes": 10, "log_lines_dropped": 0}
    async with engine.begin() as connection:
        await connection.execute(
            text(f"INSERT INTO jobs ({', '.join(columns)}) VALUES ({', '.join(':' + name for name in columns)})"),
            values,
        )
        await connection.execute(
            text("INSERT INTO job_logs (job_id, seq, time_ns, level, message) VALUES (:id, 2, 1, 1, 'kept')"),
            {"id": state.id},
        )
    await migrate(engine)
    assert await current_revision(engine) == HEAD
    assert await queries.get_state(engine, state.id) == state
    lines = await queries.list_logs(engine, state.id, queries.LogFilter(), 10)
    assert [line["message"] for line in lines] == ["kept"]
    await engine.dispose()


async def test_replicas_starting_together_migrate_one_after_another(postgres_server):
    database_url = postgres_server.new_database()
    engines = [create_engine(database_url) for _ in range(3)]
    try:
        await asyncio.gather(*(migrate(engine) for engine in engines))
        assert [await current_revision(engine) for engine in engines] == [HEAD] * 3
    finally:
        for engine in engines:
            await engine.dispose()
