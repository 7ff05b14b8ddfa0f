"""A command run as a job: the job starts, its work is the command, and the command's exit ends it."""

from __future__ import annotations

import logging
import os
import signal
import time
import uuid
from collections.abc import Mapping
from typing import Any

from jobpulse.conventions import (
    ATTR_CONTROL_COMMAND,
    ATTR_EXCEPTION_MESSAGE,
    ATTR_EXCEPTION_TYPE,
    ATTR_HEARTBEAT_INTERVAL,
    ATTR_JOB_ID,
    ATTR_SCHEDULE_CRON,
    ATTR_SCHEDULE_EVERY,
    ATTR_SCHEDULE_GRACE,
    ATTR_SCHEDULE_TIMEZONE,
    STATUS_CANCELLED,
    STATUS_COMPLETED,
    STATUS_FAILED,
)
from jobpulse.instrumentation import metrics, runtime
from jobpulse.instrumentation.control import JobCancelled
from jobpulse.instrumentation.job import announcement_attributes, identity_attributes
from jobpulse.instrumentation.joining import OWNER_END_SEQ, child_environment
from jobpulse.instrumentation.recorder import JobRecorder
from jobpulse.instrumentation.resources import ProcessTreeSampler

from .child import POSIX, Child, SignalForwarding
from .control import SignalControl
from .files import FileFollower
from .options import JobSchedule, RunOptions
from .output import OutputSink, Passthrough, stream_source
from .progress import OutputCounts, ProgressReader

# OpenTelemetry semantic conventions.
ATTR_PROCESS_COMMAND = "process.command"
ATTR_PROCESS_EXIT_CODE = "process.exit.code"

# Once the command has exited, how long its output may still take to end: a process it left running
# in the background can hold the pipes open for ever.
OUTPUT_GRACE_S = 1.0
# How long the lines already read may take to become records before the job ends without the rest.
SINK_DRAIN_S = 10.0
EXIT_NOT_FOUND = 127
EXIT_NOT_EXECUTABLE = 126


class CommandFailed(Exception):
    """How the wrapped command failed, as the job's span records it."""


Ending = tuple[str, "BaseException | None", Mapping[str, Any]]


class CommandJob:
    """One run of a command, as a job: started, watched while the command runs, ended by its exit."""

    def __init__(self, options: RunOptions) -> None:
        self._options = options
        self._jobs = runtime.current()
        self._counts = OutputCounts(options.total)
        self._job_id = uuid.uuid4().hex
        self._recorder = JobRecorder(self._jobs.telemetry, self._job_id, self._counts)
        self._labels = (options.name, options.job_type or "")
        self._started = 0.0

    def run(self, forwarding: SignalForwarding) -> int:
        """Run the command (signals go to it through `forwarding`); its exit code, or minus its killing signal."""
        options = self._options
        self._start()
        progress = ProgressReader(options.progress_pattern) if options.progress else None
        sink = OutputSink(self._recorder, self._counts, progress, options.step_pattern)
        files = FileFollower(list(options.log_files), sink)
        environment = {**os.environ, **child_environment(self._job_id, self._recorder.trace_context)}
        try:
            child = Child.start(options.command, environment)
        except OSError as error:
            self._jobs.track(self._recorder, None, self._labels)
            code, ending = self._not_started(error)
            files.stop()
            sink.finish(SINK_DRAIN_S)
        else:
            forwarding.attach(child)
            steering = SignalControl(options.name, child, self._recorder, options.cancel_grace) if POSIX else None
            code = self._watch(child, steering, sink)
            files.stop()
            sink.finish(SINK_DRAIN_S)
            cancelled = steering.cancelled if steering else None
            ending = _ending(code, cancelled, sink.error_tail(), forwarding.received)
        self._end(ending, sink)
        return code

    def _start(self) -> None:
        options = self._options
        identity = identity_attributes(options.name, options.job_type, options.owner, options.expected_duration)
        if options.queued_ns is not None:
            # A scheduler queued the run: announced as of then and started now, the job reports its wait.
            self._recorder.queued(announcement_attributes(identity, options.queue, options.priority), options.queued_ns)
        self._recorder.start(
            options.name,
            {**identity, ATTR_JOB_ID: self._job_id},
            {
                **identity,
                ATTR_HEARTBEAT_INTERVAL: self._jobs.settings.resources_interval,
                ATTR_PROCESS_COMMAND: options.command[0],
                **_schedule_attributes(options.schedule),
            },
        )
        metrics.job_started(*self._labels)
        self._started = time.monotonic()

    def _not_started(self, error: OSError) -> tuple[int, Ending]:
        """The command could not be started: say what a shell would say, and fail with its exit code."""
        code = EXIT_NOT_FOUND if isinstance(error, FileNotFoundError) else EXIT_NOT_EXECUTABLE
        reason = f"{self._options.command[0]}: {'command not found' if code == EXIT_NOT_FOUND else error.strerror}"
        os.write(2, f"jobpulse run: {reason}\n".encode())
        return code, _failure(f"exit code {code}", reason)

    def _watch(self, child: Child, steering: SignalControl | None, sink: OutputSink) -> int:
        """Pass the command's output through until it exits; its exit code."""
        control = steering.control if steering else None
        self._jobs.track(self._recorder, control, self._labels, ProcessTreeSampler(child.pid))
        if steering is None:
            self._recorder.line(
                "jobpulse run: pause, resume and cancel are unavailable on Windows, which has no signals "
                "to stop and continue a process; commands sent to this job are not obeyed",
                logging.WARNING,
                {},
            )
        pumps = [
            Passthrough(child.process.stdout, 1, stream_source("stdout"), sink),  # type: ignore[arg-type]
            Passthrough(child.process.stderr, 2, stream_source("stderr"), sink),  # type: ignore[arg-type]
        ]
        code = child.wait()
        output_deadline = time.monotonic() + OUTPUT_GRACE_S
        for pump in pumps:
            pump.join(max(output_deadline - time.monotonic(), 0))
        return code

    def _end(self, ending: Ending, sink: OutputSink) -> None:
        status, exc, attributes = ending
        if sink.step is not None:
            self._recorder.end_step(sink.step, status, exc)
        self._jobs.untrack(self._recorder)
        metrics.job_ended(*self._labels, status, time.monotonic() - self._started)
        # Above whatever the command reported into the job itself (`joining`); the counts of the
        # output only when it showed any, so that the command's own are not overwritten.
        self._recorder.end(status, exc, attributes, counts=self._counts.reported, seq=OWNER_END_SEQ)


def _ending(code: int, cancelled: JobCancelled | None, error_tail: list[str], received: list[int]) -> Ending:
    if cancelled is not None:
        return STATUS_CANCELLED, cancelled, {ATTR_CONTROL_COMMAND: cancelled.command_id}
    if code == 0:
        return STATUS_COMPLETED, None, {ATTR_PROCESS_EXIT_CODE: 0}
    tail = "\n".join(error_tail)
    if code > 0:
        headline = f"exited with code {code}"
        status, exc, attributes = _failure(f"exit code {code}", f"{headline}\n{tail}" if tail else headline)
        return status, exc, {**attributes, ATTR_PROCESS_EXIT_CODE: code}
    name = _signal_name(-code)
    headline = f"killed by {name}"
    if -code in received:
        headline += ", which jobpulse run received and passed on"
    return _failure(name, f"{headline}\n{tail}" if tail else headline)


def _failure(error_type: str, message: str) -> Ending:
    return STATUS_FAILED, CommandFailed(message), {ATTR_EXCEPTION_TYPE: error_type, ATTR_EXCEPTION_MESSAGE: message}


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _schedule_attributes(schedule: JobSchedule | None) -> dict[str, Any]:
    """What the start record says of the job's schedule, so the sidecar learns it from the run."""
    if schedule is None:
        return {}
    given = (
        (ATTR_SCHEDULE_CRON, schedule.cron),
        (ATTR_SCHEDULE_EVERY, schedule.every),
        (ATTR_SCHEDULE_TIMEZONE, schedule.timezone),
        (ATTR_SCHEDULE_GRACE, schedule.grace),
    )
    return {key: value for key, value in given if value is not None}
