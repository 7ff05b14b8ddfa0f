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
    STATUS_CANCELLED,
    STATUS_COMPLETED,
    STATUS_FAILED,
)
from jobpulse.instrumentation import metrics, runtime
from jobpulse.instrumentation.control import JobCancelled
from jobpulse.instrumentation.job import identity_attributes
from jobpulse.instrumentation.joining import OWNER_END_SEQ, child_environment
from jobpulse.instrumentation.recorder import JobRecorder
from jobpulse.instrumentation.resources import ProcessTreeSampler

from .child import POSIX, Child, SignalForwarding
from .control import SignalControl
from .files import FileFollower
from .options import RunOptions
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


def run(options: RunOptions) -> int:
    """Run the command as a job; its exit code, or minus the signal that killed it."""
    jobs = runtime.current()
    counts = OutputCounts(options.total)
    job_id = uuid.uuid4().hex
    recorder = JobRecorder(jobs.telemetry, job_id, counts)
    identity = identity_attributes(options.name, options.job_type, options.owner, options.expected_duration)
    labels = (options.name, options.job_type or "")
    with SignalForwarding() as forwarding:
        recorder.start(
            options.name,
            {**identity, ATTR_JOB_ID: job_id},
            {
                **identity,
                ATTR_HEARTBEAT_INTERVAL: jobs.settings.resources_interval,
                ATTR_PROCESS_COMMAND: options.command[0],
            },
        )
        metrics.job_started(*labels)
        started = time.monotonic()
        progress = ProgressReader(options.progress_pattern) if options.progress else None
        sink = OutputSink(recorder, counts, progress, options.step_pattern)
        files = FileFollower(list(options.log_files), sink)
        environment = {**os.environ, **child_environment(job_id, recorder.trace_context)}
        try:
            child = Child.start(options.command, environment)
        except OSError as error:
            code = EXIT_NOT_FOUND if isinstance(error, FileNotFoundError) else EXIT_NOT_EXECUTABLE
            reason = "command not found" if code == EXIT_NOT_FOUND else error.strerror
            # What a shell would say, and its exit code.
            os.write(2, f"jobpulse run: {options.command[0]}: {reason}\n".encode())
            jobs.track(recorder, None, labels)
            files.stop()
            sink.finish(SINK_DRAIN_S)
            ending = _failure(f"exit code {code}", f"{options.command[0]}: {reason}")
        else:
            forwarding.attach(child)
            steering = SignalControl(options.name, child, recorder, options.cancel_grace) if POSIX else None
            jobs.track(recorder, steering.control if steering else None, labels, ProcessTreeSampler(child.pid))
            if steering is None:
                recorder.line(
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
            files.stop()
            sink.finish(SINK_DRAIN_S)
            cancelled = steering.cancelled if steering else None
            ending = _ending(code, cancelled, sink.error_tail(), forwarding.received)
        status, exc, attributes = ending
        if sink.step is not None:
            recorder.end_step(sink.step, status, exc)
        jobs.untrack(recorder)
        metrics.job_ended(*labels, status, time.monotonic() - started)
        # Above whatever the command reported into the job itself (`joining`); the counts of the
        # output only when it showed any, so that the command's own are not overwritten.
        recorder.end(status, exc, attributes, counts=counts.reported, seq=OWNER_END_SEQ)
    return code


Ending = tuple[str, "BaseException | None", Mapping[str, Any]]


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
