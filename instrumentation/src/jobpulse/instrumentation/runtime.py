"""The process's job-side machinery: made with the first job, closed at interpreter exit.

It wires, in one direction: jobs emit through the private providers (`Telemetry`) into the delivery
processor, whose thread drives the pulse and exports; the control channel starts with the first job.
"""

from __future__ import annotations

import atexit
import os
import threading

from . import config
from ._otel import Exporters, Telemetry
from .config import Settings
from .control import ControlChannel, JobControl, control_url
from .delivery import DeliveryProcessor
from .pulse import JobPulse
from .recorder import JobRecorder
from .resources import Sampler


class Runtime:
    """Settings, telemetry, delivery, pulse and control channel, shared by the jobs of the process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pulse = JobPulse(settings)
        self.delivery = DeliveryProcessor(settings, Exporters(settings), self._pulse)
        self.telemetry = Telemetry(settings, self.delivery, self.delivery.span_processor)
        self._control_lock = threading.Lock()
        self._control: ControlChannel | None = None  # started with the first job

    def track(
        self,
        recorder: JobRecorder,
        control: JobControl | None,
        labels: tuple[str, str],
        sampler: Sampler | None = None,
    ) -> None:
        """A job started: report it, and deliver it the commands for it, if it takes any.

        `labels` are its name and type; `sampler` what its resources are read from, if not this process.
        """
        self._pulse.add(recorder, labels, sampler)
        if self.settings.control and control is not None:
            self._control_channel().register(recorder.job_id, control)
        self.delivery.wake()

    def untrack(self, recorder: JobRecorder) -> None:
        """A job ends: stop reporting it and delivering it commands."""
        self._pulse.remove(recorder)
        if self._control is not None:
            self._control.unregister(recorder.job_id)

    def _control_channel(self) -> ControlChannel:
        with self._control_lock:
            if self._control is None:
                self._control = ControlChannel(
                    control_url(self.settings.endpoint),
                    self.settings.headers,
                    on_progress_interval=self.delivery.suggest_interval,
                )
            return self._control


_lock = threading.Lock()
_runtime: Runtime | None = None


def current() -> Runtime:
    """The runtime, made on first use; settings are frozen from then on."""
    global _runtime
    if _runtime is None:
        with _lock:
            if _runtime is None:
                _runtime = Runtime(config.freeze())
    return _runtime


def is_delivery_thread(thread_ident: int) -> bool:
    return _runtime is not None and _runtime.delivery.thread_ident == thread_ident


def flush(timeout: float = 5.0) -> bool:
    """Deliver everything jobs have emitted so far; True when done within `timeout` seconds.

    Failed attempts are retried with backoff until `timeout`. Ordinary scripts don't need it: the
    end of a job is sent right away and the interpreter flushes at exit. Useful before ``os._exit``.
    """
    return _runtime.delivery.flush(timeout) if _runtime is not None else True


@atexit.register
def _close_at_exit() -> None:
    if _runtime is not None:
        _runtime.delivery.close(_runtime.settings.exit_flush_timeout)


def _forget_in_child() -> None:
    # The delivery thread does not survive fork(); a child that runs jobs starts its own.
    global _runtime
    _runtime = None


if hasattr(os, "register_at_fork"):  # POSIX only: without fork() there is nothing to forget
    os.register_at_fork(after_in_child=_forget_in_child)
