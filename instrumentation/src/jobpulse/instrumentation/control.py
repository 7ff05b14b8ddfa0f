"""Remote control of jobs: a long-poll thread that fetches commands, and how a job obeys them.

One daemon thread per process polls the sidecar (``POST /api/control/poll``, docs/control.md) for the
commands of every job the process runs. It never touches a job's hot path: a command arms the job's
next checkpoint (``advance()``, ``iter()``, ``step()`` or ``checkpoint()``), where the job thread obeys
it — a pause blocks there, a cancel raises JobCancelled. Each obeyed command is acknowledged by the
job's next lifecycle record (``jobpulse.job.paused``, ``.resumed``, or ``.end`` with status
cancelled) carrying ``jobpulse.control.command``. Each answer also carries the progress interval the
sidecar suggests, which the thread hands on (see ``ControlChannel``).
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any

import requests

from jobpulse.conventions import ATTR_CONTROL_COMMAND, DEFAULT_SIDECAR_URL, EVENT_PAUSED, EVENT_RESUMED

from ._otel import suppress_instrumentation
from .transport import FailFastSession, log_export_headers

log = logging.getLogger("jobpulse.instrumentation")

ENV_CONTROL_URL = "JOBPULSE_CONTROL_URL"
POLL_WAIT_S = 20.0
# A job started during a long poll is included from the next poll: keep polls short enough.
NEW_JOB_POLL_WAIT_S = 2.0
BACKOFF_MIN_S = 1.0
BACKOFF_MAX_S = 15.0


class JobCancelled(BaseException):
    """Raised inside a job to cancel it: the job ends with status ``cancelled``, and the exception propagates.

    It derives from BaseException, like KeyboardInterrupt, so that the ``except Exception`` blocks
    ETL code uses to skip bad records do not swallow a cancellation.
    """

    def __init__(self, reason: str | None = None, *, command_id: int | None = None) -> None:
        super().__init__(reason or "job cancelled")
        self.command_id = command_id


def control_url(endpoint: str | None) -> str:
    """Where the control API is: ``JOBPULSE_CONTROL_URL``, else the sidecar the job exports to."""
    explicit = os.environ.get(ENV_CONTROL_URL)
    if explicit:
        return explicit.rstrip("/")
    base = endpoint or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or DEFAULT_SIDECAR_URL
    return base.rstrip("/")


# Have an action run in the job's thread at its next checkpoint (callable from any thread).
Arm = Callable[[Callable[[], None]], None]
# Emit one of the job's lifecycle records (event name, extra attributes).
Acknowledge = Callable[[str, Mapping[str, Any]], None]


class JobControl:
    """What one job has been told, and how it obeys: the control channel delivers, the job thread obeys.

    It sees the job only through the two functions it is given: `arm`, which has an action run at
    the job's next checkpoint, and `acknowledge`, which emits one of the job's lifecycle records.
    """

    def __init__(self, job_name: str, *, arm: Arm, acknowledge: Acknowledge) -> None:
        self._job_name = job_name
        self._arm = arm
        self._acknowledge = acknowledge
        self._wake = threading.Event()
        # True from a pause command until the job resumes (or skips the pause).
        self._pausing = False
        self._latest_resume = 0
        self._cancel_command: int | None = None
        self._cancel_reason: str | None = None

    def deliver(self, command: Mapping[str, Any]) -> None:
        """Take one command (called on the control thread)."""
        command_id, action = command["id"], command["action"]
        if action == "pause":
            self._pausing = True
            self._arm(functools.partial(self._pause, command_id))
        elif action == "resume":
            self._latest_resume = max(self._latest_resume, command_id)
            if self._pausing:
                self._wake.set()
            else:
                # Nothing to resume: say so at once, so the request does not stay pending.
                self._acknowledge(EVENT_RESUMED, {ATTR_CONTROL_COMMAND: command_id})
        elif action == "cancel":
            self._cancel_command = command_id
            self._cancel_reason = (
                command.get("reason") or f"cancelled by {command.get('requested_by') or 'an operator'}"
            )
            self._arm(self._cancel)
            self._wake.set()

    def _pause(self, command_id: int) -> None:
        """The checkpoint action of a pause: block until resumed (or raise when cancelled meanwhile)."""
        self._wake.clear()
        if self._cancel_command is not None:
            self._cancel()
        if self._latest_resume > command_id:
            # Resumed before the pause took effect: acknowledge the resume, keep going.
            self._pausing = False
            self._acknowledge(EVENT_RESUMED, {ATTR_CONTROL_COMMAND: self._latest_resume})
            return
        self._acknowledge(EVENT_PAUSED, {ATTR_CONTROL_COMMAND: command_id})
        log.info("jobpulse: job %s paused (command %d)", self._job_name, command_id)
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._cancel_command is not None:
                self._cancel()
            if self._latest_resume > command_id:
                break
        self._pausing = False
        self._acknowledge(EVENT_RESUMED, {ATTR_CONTROL_COMMAND: self._latest_resume})
        log.info("jobpulse: job %s resumed (command %d)", self._job_name, self._latest_resume)

    def _cancel(self) -> None:
        """The checkpoint action of a cancel."""
        raise JobCancelled(self._cancel_reason, command_id=self._cancel_command)


class ControlChannel:
    """The long-poll thread of a process, shared by all its jobs.

    ``on_progress_interval`` hears the progress interval of every answer: seconds, or None when the
    sidecar leaves it to the job.
    """

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str] | None = None,
        on_progress_interval: Callable[[float | None], None] | None = None,
    ) -> None:
        self.url = base_url + "/api/control/poll"
        self._on_progress_interval = on_progress_interval
        # The exporters' kind of session: a sidecar that is away costs a refused connection, not a wait.
        self._session = FailFastSession()
        # The log exporter's headers: the job's token, if it has one, goes to the control API too.
        self._session.headers.update(log_export_headers(headers))
        self._lock = threading.Condition()
        self._jobs: dict[str, JobControl] = {}
        self._cursor = 0
        # The cursor is shared by all jobs: a job that joins polls from the cursor as it was when it
        # joined, so a command for it is not skipped because another job's newer one came first.
        self._rewind_to: int | None = None
        self._delivered: set[int] = set()
        self._new_jobs = False
        self._disabled = False
        self._thread = threading.Thread(target=self._run, name="jobpulse-control", daemon=True)
        self._thread.start()

    def register(self, job_id: str, control: JobControl) -> None:
        with self._lock:
            self._jobs[job_id] = control
            self._new_jobs = True
            self._rewind_to = self._cursor if self._rewind_to is None else min(self._rewind_to, self._cursor)
            self._lock.notify_all()

    def unregister(self, job_id: str) -> None:
        with self._lock:
            self._jobs.pop(job_id, None)

    def _run(self) -> None:
        suppress_instrumentation()
        backoff = BACKOFF_MIN_S
        warned = False
        while True:
            with self._lock:
                self._lock.wait_for(lambda: self._jobs and not self._disabled)
                job_ids = list(self._jobs)
                wait = NEW_JOB_POLL_WAIT_S if self._new_jobs else POLL_WAIT_S
                after = self._cursor if self._rewind_to is None else self._rewind_to
                self._new_jobs = False
                self._rewind_to = None
            try:
                response = self._session.post(
                    self.url, json={"job_ids": job_ids, "after": after, "wait": wait}, timeout=wait + 10
                )
            except requests.RequestException:
                # The sidecar is away (restarting?): keep trying quietly; telemetry already warned.
                with self._lock:
                    self._lock.wait(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)
                continue
            if response.status_code in (401, 403):
                log.warning(
                    "jobpulse: the sidecar refused the control poll (HTTP %d: %s); pause/cancel are off for this "
                    "process. Give the job an ingest token: OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer <token>",
                    response.status_code,
                    response.text[:200],
                )
                with self._lock:
                    self._disabled = True
                continue
            if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
                # Not a sidecar (an OpenTelemetry Collector, say): nothing to poll there.
                log.info(
                    "jobpulse: %s offers no job control (HTTP %d); pause/cancel are off for this process",
                    self.url,
                    response.status_code,
                )
                with self._lock:
                    self._disabled = True
                continue
            if response.status_code != 200:
                if not warned:
                    warned = True
                    log.warning(
                        "jobpulse: control poll to %s answered %d: %s",
                        self.url,
                        response.status_code,
                        response.text[:200],
                    )
                with self._lock:
                    self._lock.wait(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)
                continue
            backoff = BACKOFF_MIN_S
            answer = response.json()
            if self._on_progress_interval is not None:
                self._on_progress_interval(answer.get("progress_interval_s"))
            for command in answer["commands"]:
                if command["id"] in self._delivered:
                    continue
                self._delivered.add(command["id"])
                with self._lock:
                    control = self._jobs.get(command["job_id"])
                if control is not None:
                    control.deliver(command)
            self._cursor = max(self._cursor, answer["cursor"])
            self._delivered = {command_id for command_id in self._delivered if command_id > after}
