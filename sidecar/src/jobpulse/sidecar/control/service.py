"""ControlService: validates control requests, stores them, and hands them to jobs that long-poll.

A request is written to the database first (it must survive a restart), then folded into the job's
state as a sidecar-originated event, so REST, the live feed and history all show it as pending until
the job acknowledges it (its paused/resumed/end event carries the command id). A job this sidecar
knows only from history (its events go to another replica sharing the database) is not folded into:
the store makes no job from a request, and the job's row stays as the replica that hears from it
writes it. Long polls wake at once for commands made here, and for commands made through another
replica sharing the database when that replica can say so (notify.py: PostgreSQL's NOTIFY); otherwise
they reread the database every ``control_db_poll_interval_s``. Whichever replica hears the
acknowledgement records it. The answer also tells jobs the progress interval the sidecar suggests;
when it changes, waiting polls are answered at once so running jobs adapt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import msgspec
from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from jobpulse.sidecar.auth.principal import Principal
from jobpulse.sidecar.control.access import may_control
from jobpulse.sidecar.control.notify import CommandNotices
from jobpulse.sidecar.control.tables import (
    COMMAND_ACKNOWLEDGED,
    COMMAND_EXPIRED,
    COMMAND_PENDING,
    COMMAND_SUPERSEDED,
    control_commands,
)
from jobpulse.sidecar.control.waiters import Waiters
from jobpulse.sidecar.model.events import KIND_CONTROL, JobEvent
from jobpulse.sidecar.model.state import PAUSED, PENDING, RUNNING, JobState
from jobpulse.sidecar.printable import printable
from jobpulse.sidecar.store import JobChange, JobStore

if TYPE_CHECKING:
    from jobpulse.sidecar.settings import Settings

log = logging.getLogger("jobpulse.sidecar.control")


class ControlError(Exception):
    """A request that cannot be carried out; ``status_code`` is 403, 404 or 409."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail


class Command(msgspec.Struct, frozen=True):
    """A stored control command."""

    id: int
    job_id: str
    action: str
    reason: str | None
    requested_by: str | None
    requested_ns: int
    state: str
    resolved_ns: int | None


def check_transition(state: JobState, action: str) -> None:
    """Raise a 409 ControlError when ``action`` makes no sense for the job as it is now."""
    status, pending = state.status, state.pending_action
    where = f"job '{state.id}' is {status}"
    if pending is not None and pending == action:
        raise ControlError(409, f"cannot {action} job '{state.id}': a {action} is already pending")
    if pending == "cancel":
        raise ControlError(409, f"cannot {action} job '{state.id}': a cancel is already pending")
    if action == "pause" and status != RUNNING:
        raise ControlError(409, f"cannot pause: {where}; only a running job can be paused")
    if action == "resume" and status != PAUSED and pending != "pause":
        raise ControlError(409, f"cannot resume: {where}; only a paused job (or one asked to pause) can be resumed")
    if action == "cancel" and status not in (PENDING, RUNNING, PAUSED):
        raise ControlError(409, f"cannot cancel: {where}; only a pending, running or paused job can be cancelled")


def _command(row: object) -> Command:
    return Command(**{field: getattr(row, field) for field in Command.__struct_fields__})


class ControlService:
    """Control requests in, commands out to polling jobs, acknowledgements recorded."""

    def __init__(
        self,
        store: JobStore,
        engine: AsyncEngine,
        lookup: Callable[[str], Awaitable[JobState | None]],
        *,
        notices: CommandNotices | None = None,
        db_poll_interval_s: float = 2.0,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.store = store
        self.engine = engine
        self.lookup = lookup
        self.notices = notices or CommandNotices()
        self.db_poll_interval_s = db_poll_interval_s
        self.clock_ns = clock_ns
        self.waiters = Waiters()
        self._new_job = asyncio.Event()
        self._closing = False
        # Seconds between a job's progress records, suggested in every poll's answer (None: the job's own).
        self.progress_interval_s: float | None = None
        self._advice = 0
        self._updates: set[asyncio.Task[None]] = set()
        store.add_listener(self.on_change)

    def reconfigure(self, settings: Settings) -> None:
        """A new suggested progress interval reaches running jobs at once: waiting polls are answered."""
        self.db_poll_interval_s = settings.control_db_poll_interval_s
        if settings.progress_interval_s != self.progress_interval_s:
            self.progress_interval_s = settings.progress_interval_s
            self._advice += 1
            self.waiters.wake_all()

    async def start(self) -> None:
        """Hear of the commands other replicas store."""
        await self.notices.start(self._heard)

    def _heard(self, job_id: str | None) -> None:
        if job_id is None:
            self.waiters.wake_all()
        else:
            self.waiters.wake(job_id)

    async def request(self, job_id: str, action: str, reason: str | None, principal: Principal) -> Command:
        """Validate and record ``action`` on ``job_id``; the job is told at its next poll."""
        state = await self.lookup(job_id)
        if state is None:
            raise ControlError(404, f"job '{job_id}' not found")
        if not may_control(principal, state.owner):
            raise ControlError(
                403,
                f"{principal.name or 'anonymous'} may not {action} job '{job_id}': "
                f"it belongs to {state.owner or 'nobody'} and needs the operator role",
            )
        check_transition(state, action)
        now = self.clock_ns()
        async with self.engine.begin() as connection:
            command_id = (
                await connection.execute(
                    control_commands.insert()
                    .values(
                        job_id=job_id,
                        action=action,
                        reason=reason,
                        requested_by=principal.name,
                        requested_ns=now,
                        state=COMMAND_PENDING,
                    )
                    .returning(control_commands.c.id)
                )
            ).scalar_one()
            await self.notices.announce(connection, job_id)
        self.store.apply(
            JobEvent(
                kind=KIND_CONTROL,
                job_id=job_id,
                seq=command_id,
                time_ns=now,
                action=action,
                actor=principal.name,
                reason=reason,
            )
        )
        self.waiters.wake(job_id)
        log.info(
            "%s requested %s of job %s (command %d)",
            printable(principal.name or "anonymous"),
            action,
            printable(job_id),
            command_id,
        )
        return Command(command_id, job_id, action, reason, principal.name, now, COMMAND_PENDING, None)

    async def commands(self, job_ids: list[str], after: int) -> list[Command]:
        query = (
            select(control_commands)
            .where(control_commands.c.job_id.in_(job_ids), control_commands.c.id > after)
            .order_by(control_commands.c.id)
        )
        async with self.engine.connect() as connection:
            return [_command(row) for row in await connection.execute(query)]

    async def poll(self, job_ids: list[str], after: int, wait_s: float) -> list[Command]:
        """Commands for ``job_ids`` newer than ``after``, waiting up to ``wait_s`` for one to appear."""
        deadline = time.monotonic() + wait_s
        advice = self._advice
        with self.waiters.register(job_ids) as woken:
            while True:
                woken.clear()
                found = await self.commands(job_ids, after)
                remaining = deadline - time.monotonic()
                if found or remaining <= 0 or self._closing or self._advice != advice:
                    return found
                # Listening, a command made anywhere wakes the poll: no need to reread meanwhile.
                reread_s = remaining if self.notices.listening else min(remaining, self.db_poll_interval_s)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(woken.wait(), reread_s)

    async def poll_job(self, job_id: str, after: int, wait_s: float) -> list[Command]:
        """Like :meth:`poll` for one job, which must be known: a 404 ControlError otherwise.

        A job that sends its start and then polls at once may poll a replica that has not seen the
        start yet (it reaches storage behind the fold). So an unknown job is waited for like a
        command, and is a 404 only when it is still unknown when the whole wait is over; a sidecar
        shutting down answers an empty list instead, as it does for every poll.
        """
        deadline = time.monotonic() + wait_s
        while not await self._known(job_id):
            remaining = deadline - time.monotonic()
            if self._closing:
                return []
            if remaining <= 0:
                raise ControlError(404, f"job '{job_id}' not found")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_job.wait(), min(remaining, self.db_poll_interval_s))
        return await self.poll([job_id], after, max(deadline - time.monotonic(), 0.0))

    async def _known(self, job_id: str) -> bool:
        if await self.lookup(job_id) is not None:
            return True
        query = select(control_commands.c.id).where(control_commands.c.job_id == job_id).limit(1)
        async with self.engine.connect() as connection:
            return (await connection.execute(query)).first() is not None

    # ---- acknowledgements ---------------------------------------------------------------------

    def on_change(self, change: JobChange) -> None:
        old, new = change.old, change.new
        if old is None:
            self._new_job.set()
            self._new_job = asyncio.Event()
        # An acknowledgement is recorded wherever it arrives: the command may have been made through
        # another replica. Expiry needs a command known to be pending here (not a write per job end).
        acknowledged = new.control_ack_id > (old.control_ack_id if old else 0)
        expired = old is not None and bool(old.control_id) and new.is_terminal and not old.is_terminal
        if acknowledged or expired:
            task = asyncio.get_running_loop().create_task(self._resolve(new, acknowledged, expired))
            self._updates.add(task)
            task.add_done_callback(self._updates.discard)

    async def _resolve(self, state: JobState, acknowledged: bool, expired: bool) -> None:
        now = self.clock_ns()
        pending = and_(control_commands.c.job_id == state.id, control_commands.c.state == COMMAND_PENDING)
        try:
            async with self.engine.begin() as connection:
                if acknowledged:
                    ack = state.control_ack_id
                    await connection.execute(
                        update(control_commands)
                        .where(pending, control_commands.c.id == ack)
                        .values(state=COMMAND_ACKNOWLEDGED, resolved_ns=now)
                    )
                    await connection.execute(
                        update(control_commands)
                        .where(pending, control_commands.c.id < ack)
                        .values(state=COMMAND_SUPERSEDED, resolved_ns=now)
                    )
                if expired:
                    await connection.execute(
                        update(control_commands).where(pending).values(state=COMMAND_EXPIRED, resolved_ns=now)
                    )
        except Exception:
            log.exception("could not record the outcome of job %s's control commands", printable(state.id))

    def close(self) -> None:
        """Answer every waiting long poll now: the sidecar is shutting down (jobs poll again later)."""
        self._closing = True
        self.waiters.wake_all()
        self._new_job.set()

    async def stop(self) -> None:
        """Stop listening; let pending outcome writes finish."""
        await self.notices.stop()
        if self._updates:
            await asyncio.gather(*self._updates, return_exceptions=True)
