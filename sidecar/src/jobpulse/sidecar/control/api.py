"""Control endpoints: operators request, jobs poll."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException, NotFoundException, PermissionDeniedException
from litestar.params import FromPath, JSONBody, QueryParameter

from jobpulse.sidecar.api.bounds import INT64_MAX
from jobpulse.sidecar.api.errors import ConflictException, UnprocessableEntityException
from jobpulse.sidecar.auth.principal import Principal
from jobpulse.sidecar.auth.roles import INGEST, VIEWER, access
from jobpulse.sidecar.control.service import Command, ControlError, ControlService
from jobpulse.sidecar.settings import Settings
from jobpulse.sidecar.timestamps import to_datetime

Reason = Annotated[str, msgspec.Meta(max_length=1000)]
JobIds = Annotated[
    list[Annotated[str, msgspec.Meta(min_length=1, max_length=200)]], msgspec.Meta(min_length=1, max_length=10_000)
]


class ControlRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Why the job is being paused, resumed or cancelled (optional, shown in history)."""

    reason: Reason | None = None


class CommandView(msgspec.Struct):
    """A control command and what became of it: pending, acknowledged, superseded or expired."""

    id: int
    job_id: str
    action: str
    reason: str | None
    requested_by: str | None
    requested_at: datetime
    state: str
    resolved_at: datetime | None


class CommandList(msgspec.Struct):
    """Commands in id order; poll again with ``after=cursor``. ``progress_interval_s`` is the interval
    between progress records the sidecar suggests to running jobs (null: each job keeps its own)."""

    commands: list[CommandView]
    cursor: int
    progress_interval_s: float | None = None


class PollRequest(msgspec.Struct, forbid_unknown_fields=True):
    """A process's long poll for the commands of all its jobs."""

    job_ids: JobIds
    after: Annotated[int, msgspec.Meta(ge=0, le=INT64_MAX)] = 0
    wait: Annotated[float, msgspec.Meta(ge=0)] = 0.0


def _view(command: Command) -> CommandView:
    return CommandView(
        id=command.id,
        job_id=command.job_id,
        action=command.action,
        reason=command.reason,
        requested_by=command.requested_by,
        requested_at=to_datetime(command.requested_ns),
        state=command.state,
        resolved_at=to_datetime(command.resolved_ns),
    )


# What a pause, resume or cancel request can be refused with.
_REFUSALS = [PermissionDeniedException, NotFoundException, ConflictException, UnprocessableEntityException]


def _refused(error: ControlError) -> HTTPException:
    return HTTPException(status_code=error.status_code, detail=error.detail)


def _listing(commands: list[Command], after: int, control: ControlService) -> CommandList:
    return CommandList(
        commands=[_view(command) for command in commands],
        cursor=max([after, *(c.id for c in commands)]),
        progress_interval_s=control.progress_interval_s,
    )


class ControlController(Controller):
    """Pause, resume and cancel running jobs; jobs fetch their commands here."""

    path = "/api"
    tags = ["control"]
    # Anyone who reads may ask: a job's owner controls it, others need the operator role (ControlService).
    opt = access(VIEWER)

    async def _request(
        self, control: ControlService, job_id: str, action: str, data: ControlRequest | None, principal: Principal
    ) -> CommandView:
        try:
            command = await control.request(job_id, action, data.reason if data else None, principal)
        except ControlError as error:
            raise _refused(error) from None
        return _view(command)

    @post(
        "/jobs/{job_id:str}/pause",
        status_code=202,
        summary="Ask a running job to pause at its next checkpoint",
        raises=_REFUSALS,
    )
    async def pause(
        self,
        control: NamedDependency[ControlService],
        principal: NamedDependency[Principal],
        job_id: FromPath[str],
        data: JSONBody[ControlRequest | None] = None,
    ) -> CommandView:
        return await self._request(control, job_id, "pause", data, principal)

    @post("/jobs/{job_id:str}/resume", status_code=202, summary="Ask a paused job to resume", raises=_REFUSALS)
    async def resume(
        self,
        control: NamedDependency[ControlService],
        principal: NamedDependency[Principal],
        job_id: FromPath[str],
        data: JSONBody[ControlRequest | None] = None,
    ) -> CommandView:
        return await self._request(control, job_id, "resume", data, principal)

    @post(
        "/jobs/{job_id:str}/cancel",
        status_code=202,
        summary="Ask a job to stop; it ends as cancelled",
        raises=_REFUSALS,
    )
    async def cancel(
        self,
        control: NamedDependency[ControlService],
        principal: NamedDependency[Principal],
        job_id: FromPath[str],
        data: JSONBody[ControlRequest | None] = None,
    ) -> CommandView:
        return await self._request(control, job_id, "cancel", data, principal)

    @get(
        "/jobs/{job_id:str}/commands",
        summary="A job's commands (history, or a long poll with wait)",
        description="404 for a job the sidecar does not know; a long poll waits for an unknown job to appear "
        "and answers 404 only if it is still unknown when the wait is over.",
        raises=[NotFoundException],
        opt=access(VIEWER, INGEST),
    )
    async def job_commands(
        self,
        control: NamedDependency[ControlService],
        settings: NamedDependency[Settings],
        job_id: FromPath[str],
        after: Annotated[int, QueryParameter(ge=0, le=INT64_MAX)] = 0,
        wait: Annotated[float, QueryParameter(ge=0, description="Seconds to wait for a newer command")] = 0.0,
    ) -> CommandList:
        try:
            commands = await control.poll_job(job_id, after, min(wait, settings.control_poll_max_wait_s))
        except ControlError as error:
            raise _refused(error) from None
        return _listing(commands, after, control)

    @post(
        "/control/poll",
        status_code=200,
        summary="Long poll for the commands of several jobs (one per process)",
        description="Job ids the sidecar has not seen are not an error: a job's start may still be on its way.",
        raises=[UnprocessableEntityException],
        opt=access(INGEST),
    )
    async def poll(
        self, control: NamedDependency[ControlService], settings: NamedDependency[Settings], data: JSONBody[PollRequest]
    ) -> CommandList:
        commands = await control.poll(data.job_ids, data.after, min(data.wait, settings.control_poll_max_wait_s))
        return _listing(commands, data.after, control)
