"""How a replica hears of commands made through another one sharing its database.

On PostgreSQL the replica that stores a command sends ``NOTIFY jobpulse_control`` with the job's id, in
the transaction that stores it (PostgreSQL delivers it at commit, never for a command rolled back).
Every replica LISTENs on a connection of its own and wakes the polls of that job, which read the
command from the database. Notifications share one queue for the whole server and their payloads
are small: they carry the job id, never the command.

While the listening connection is down (the server restarts, the network drops), the replica cannot
hear: long polls fall back to rereading the database every ``control_db_poll_interval_s``, and every
poll rereads once when listening resumes, so a command made during the gap is not missed. The
connection is reopened with backoff, forever.

On SQLite there is nothing to listen to: polls always reread the database at that interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

if TYPE_CHECKING:
    import asyncpg

log = logging.getLogger("jobpulse.sidecar.control")

CHANNEL = "jobpulse_control"

# Wakes the polls of one job, or all of them (None).
Wake = Callable[[str | None], None]

_FIRST_RETRY_S = 0.5
_LAST_RETRY_S = 10.0
_CONNECT_TIMEOUT_S = 5.0
# A connection that dies without a word (a dropped network) is noticed by a query at this interval.
_CHECK_INTERVAL_S = 5.0
_CHECK_TIMEOUT_S = 5.0


class NoticeStats:
    """What the listener has done: notifications received, times it had to reconnect."""

    def __init__(self) -> None:
        self.received = 0
        self.reconnects = 0


class CommandNotices:
    """No notifications: the database is all replicas share (SQLite). ``listening`` stays False, so
    polls reread the database."""

    listening = False
    stats: NoticeStats | None = None

    async def announce(self, connection: AsyncConnection, job_id: str) -> None:
        """Tell the other replicas, within the transaction that stores the command, that ``job_id`` has one."""

    async def start(self, wake: Wake) -> None:
        """Start listening; ``wake`` is called for each job with a new command, and for all (None)
        whenever listening starts or stops."""

    async def stop(self) -> None:
        """Stop listening."""

    def detail(self) -> str | None:
        """The listener's state for ``/readyz``, when there is one."""
        return None


class PostgresNotices(CommandNotices):
    """LISTEN/NOTIFY on PostgreSQL, over a dedicated asyncpg connection outside the engine's pool."""

    def __init__(self, engine: AsyncEngine) -> None:
        # Imported only on PostgreSQL: the driver is a tenth of a second of every start on SQLite.
        import asyncpg

        self._connect = asyncpg.connect
        _, options = engine.dialect.create_connect_args(engine.url)
        accepted = inspect.signature(asyncpg.connect).parameters
        # SQLAlchemy's own options (its statement cache) are not asyncpg's.
        self._connect_options = {key: value for key, value in options.items() if key in accepted}
        self.stats = NoticeStats()
        self.listening = False
        self._task: asyncio.Task[None] | None = None
        self._wake: Wake = lambda _job_id: None

    async def announce(self, connection: AsyncConnection, job_id: str) -> None:
        await connection.execute(select(func.pg_notify(CHANNEL, job_id)))

    async def start(self, wake: Wake) -> None:
        self._wake = wake
        self._task = asyncio.get_running_loop().create_task(self._keep_listening(), name="jobpulse-control-listen")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def detail(self) -> str:
        if self.listening:
            return "listening for commands made through other replicas"
        return "not listening for other replicas' commands: rereading the database instead"

    def _received(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        self.stats.received += 1
        self._wake(payload or None)

    async def _keep_listening(self) -> None:
        retry_s = _FIRST_RETRY_S
        ever_listened = False
        while True:
            try:
                connection = await self._connect(**self._connect_options, timeout=_CONNECT_TIMEOUT_S)
            except Exception as error:
                log.debug("control listener: cannot connect (%s); retrying in %.1f s", error, retry_s)
                await asyncio.sleep(retry_s)
                retry_s = min(retry_s * 2, _LAST_RETRY_S)
                continue
            if ever_listened:
                self.stats.reconnects += 1
                log.info("control listener: listening again")
            ever_listened = True
            retry_s = _FIRST_RETRY_S
            try:
                await self._listen(connection)
            except Exception as error:
                log.warning("control listener: connection lost (%s); polls reread the database meanwhile", error)
            finally:
                self._set_listening(False)
                connection.terminate()

    async def _listen(self, connection: asyncpg.Connection) -> None:
        """Listen on ``connection`` until it closes (return) or stops answering (raise)."""
        lost = asyncio.Event()
        connection.add_termination_listener(lambda _connection: lost.set())
        await connection.add_listener(CHANNEL, self._received)
        self._set_listening(True)
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), _CHECK_INTERVAL_S)
                log.warning("control listener: connection closed; polls reread the database meanwhile")
                return
            await connection.execute("SELECT 1", timeout=_CHECK_TIMEOUT_S)

    def _set_listening(self, listening: bool) -> None:
        # Either way every poll looks again: after a gap, for commands nobody heard of; on a loss, to
        # switch to rereading the database.
        self.listening = listening
        self._wake(None)


def command_notices(engine: AsyncEngine) -> CommandNotices:
    """Notifications over the engine's database: LISTEN/NOTIFY on PostgreSQL, none on SQLite."""
    if engine.dialect.name == "postgresql":
        return PostgresNotices(engine)
    return CommandNotices()
