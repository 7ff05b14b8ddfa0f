"""What scripts ask most, built on REST and the live feed: wait for a job's end, follow its log lines,
wait for a control command's outcome.

Each first asks REST and then listens to the feed, and reads REST again whenever the feed had to
resync: an end or a log line that happened before the call, or while the feed was reconnecting,
is never missed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from typing import Protocol

from jobpulse.client.errors import ConnectionFailed, UnexpectedAnswer
from jobpulse.client.feed import Feed, Filters
from jobpulse.client.jobs import Command, CommandList, CommandOutcome, JobDetail, LogLevel, LogLine
from jobpulse.client.messages import JobList, JobLog, JobStatusUpdate, Resync, Snapshot

# How often wait_for_command reads a command's state: from the first interval, doubling up to the last.
COMMAND_POLL_S = (0.05, 1.0)


class Source(Protocol):
    """What the helpers need of an AsyncClient."""

    def job(self, job_id: str) -> Awaitable[JobDetail]: ...

    def iter_logs(
        self, job_id: str, *, level: LogLevel | None = None, cursor: str | None = None
    ) -> AsyncIterator[LogLine]: ...

    def commands(self, job_id: str, *, after: int = 0) -> Awaitable[CommandList]: ...

    def open_feed(self, filters: Filters | None = None) -> Feed: ...


def _listed(jobs: JobList, job_id: str) -> bool:
    return any(job.id == job_id for job in jobs.jobs)


async def wait_for_end(source: Source, job_id: str, timeout: float | None = None) -> JobDetail:
    """The job's detail once it has completed, failed or been cancelled (a ``lost`` job may still come
    back, so it is waited for). NotFound for a job the sidecar does not know; TimeoutError after
    ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        job = await source.job(job_id)
        if job.ended:
            return job
        filters = Filters(job_ids=[job_id], message_types=["job_status_update"])
        async with source.open_feed(filters) as feed:
            async for message in feed:
                # A snapshot lists the active jobs: without this one, it ended before the feed listened.
                if isinstance(message, Snapshot | Resync) and not _listed(message.data, job_id):
                    job = await source.job(job_id)
                    if job.ended:
                        return job
                elif isinstance(message, JobStatusUpdate) and message.data.ended:
                    return await source.job(job_id)
    raise ConnectionFailed(f"the live feed ended before job '{job_id}' did")


async def follow_logs(source: Source, job_id: str, level: LogLevel | None = None) -> AsyncIterator[LogLine]:
    """Every log line of the job at ``level`` or above, in seq order: those already stored, then each
    as it arrives, until the job ends. NotFound for a job the sidecar does not know."""
    filters = Filters(job_ids=[job_id], message_types=["job_log", "job_status_update"], min_log_level=level)
    last_seq: int | None = None
    async with source.open_feed(filters) as feed:
        async for message in feed:
            if isinstance(message, Snapshot | Resync):
                # Storage has what the feed cannot replay: every line after the last one yielded.
                cursor = None if last_seq is None else str(last_seq)
                async for line in source.iter_logs(job_id, level=level, cursor=cursor):
                    last_seq = line.seq
                    yield line
                if not _listed(message.data, job_id) and (await source.job(job_id)).ended:
                    return
            elif isinstance(message, JobLog):
                if last_seq is None or message.data.seq > last_seq:
                    last_seq = message.data.seq
                    yield message.data
            elif isinstance(message, JobStatusUpdate) and message.data.ended:
                return


async def _current(source: Source, command: Command) -> Command:
    listing = await source.commands(command.job_id, after=command.id - 1)
    for current in listing.commands:
        if current.id == command.id:
            return current
    raise UnexpectedAnswer(f"command {command.id} of job '{command.job_id}' is not among the job's commands")


async def wait_for_command(source: Source, command: Command, timeout: float = 30.0) -> CommandOutcome:
    """What became of ``command``: ``acknowledged`` by the job, ``superseded`` by a later command,
    ``expired`` (the job ended first), or ``timed_out`` when the job has not acted on it in ``timeout``
    seconds. Reads the command's state over REST, first often, then once a second."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    interval, longest = COMMAND_POLL_S
    while True:
        current = await _current(source, command)
        if current.state != "pending":
            return CommandOutcome(current, current.state)  # type: ignore[arg-type]
        remaining = deadline - loop.time()
        if remaining <= 0:
            return CommandOutcome(current, "timed_out")
        await asyncio.sleep(min(interval, remaining))
        interval = min(interval * 2, longest)
