"""`track_job`: run code as a tracked job, as a context manager (sync or async) or a decorator."""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from types import TracebackType
from typing import Any, TypeVar

from . import joining, runtime
from .job import MAX_JOB_ID_LENGTH, Job
from .logging_handler import root_capture

F = TypeVar("F", bound=Callable[..., Any])


def track_job(
    name: str,
    *,
    job_type: str | None = None,
    total: int | None = None,
    job_id: str | None = None,
    owner: str | None = None,
    expected_duration: float | timedelta | None = None,
    steps: Sequence[str] | None = None,
    capture_logs: bool = True,
    log_level: int = logging.INFO,
    attributes: Mapping[str, Any] | None = None,
) -> JobTracker:
    """Track a run of the job `name`.

    Use it as ``with track_job("orders-import", total=n) as job:``, as ``async with``, or as a
    decorator of a sync or async function (each call is a new run; the function reaches its `Job`
    through `current_job()`).

    The run emits a start record, progress while it works, and an end record with status
    ``completed``, ``failed`` (an exception escaped: its type, message and stack trace are attached,
    then it propagates) or ``cancelled`` (`JobCancelled` or KeyboardInterrupt, which propagate too).

    In a process started by ``jobpulse run`` (``JOBPULSE_JOB_ID`` set), the first run without a
    `job_id` reports into the wrapper's job instead: its counts, steps and `Job.log` lines go to that
    job, its span is a child of the wrapper's, and the wrapper sends the start and the end (from the
    command's exit). Its `logging` records are not captured: the wrapper reads them from the output.

    Args:
        name: the job's name, shared by its runs.
        job_type: a family of jobs, e.g. ``csv_import``.
        total: records expected, when known (also settable later with `Job.set_total`).
        job_id: this run's id; default a random UUID (hex).
        owner: user or team owning the job.
        expected_duration: seconds, or a timedelta.
        steps: the step names, in order, when known up front (gives steps an index and a count).
        capture_logs: turn `logging` records emitted during the run into job log lines.
        log_level: the lowest level captured.
        attributes: extra attributes for the start record and the job span, under the keys given.
    """
    return JobTracker(
        name,
        job_type=job_type,
        total=total,
        job_id=job_id,
        owner=owner,
        expected_duration=expected_duration,
        steps=steps,
        log_level=log_level,
        attributes=attributes,
        capture_logs=capture_logs,
    )


class JobTracker:
    """What `track_job` returns: enter it (sync or async) to run a job, or decorate a function with it."""

    def __init__(self, name: str, *, capture_logs: bool, **job_options: Any) -> None:
        self._name = name
        self._capture_logs = capture_logs
        self._job_options = job_options
        # One entry per enter: the same tracker may be entered again while in use (nested or reentrant).
        self._runs: list[contextlib.ExitStack] = []

    def __enter__(self) -> Job:
        inherited = joining.claim(MAX_JOB_ID_LENGTH) if self._job_options.get("job_id") is None else None
        job = Job(runtime.current(), self._name, inherited=inherited, **self._job_options)
        with contextlib.ExitStack() as run:
            if self._capture_logs and inherited is None:
                root_capture.acquire(job.log_level)
                run.callback(root_capture.release, job.log_level)
            run.enter_context(job)
            self._runs.append(run.pop_all())
        return job

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._runs.pop().__exit__(exc_type, exc, tb)

    async def __aenter__(self) -> Job:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, function: F) -> F:
        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                async with self._fresh():
                    return await function(*args, **kwargs)

            return run_async  # type: ignore[return-value]

        @functools.wraps(function)
        def run(*args: Any, **kwargs: Any) -> Any:
            with self._fresh():
                return function(*args, **kwargs)

        return run  # type: ignore[return-value]

    def _fresh(self) -> JobTracker:
        # Calls may overlap (threads, tasks), so each gets its own tracker and run.
        return JobTracker(self._name, capture_logs=self._capture_logs, **self._job_options)
