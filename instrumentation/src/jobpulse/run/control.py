"""Pause, resume and cancel for a command that knows nothing of them: signals to its process group.

The commands come through the job side's control channel and are obeyed in the order and with the
acknowledgements of an instrumented job's (`JobControl`): what runs at an instrumented job's
checkpoint runs here on a thread of the wrapper's own. A pause stops the command's group (SIGSTOP)
before it is acknowledged and blocks that thread until the resume, which continues the group
(SIGCONT) before it is acknowledged. A cancel sends SIGTERM (and SIGCONT, so that a paused command
can act on it), then SIGKILL once the grace period has passed.
"""

from __future__ import annotations

import queue
import signal
import threading
from collections.abc import Callable, Mapping
from typing import Any

from jobpulse.conventions import EVENT_PAUSED, EVENT_RESUMED
from jobpulse.instrumentation.control import JobCancelled, JobControl
from jobpulse.instrumentation.recorder import JobRecorder

from .child import Child


class SignalControl:
    """The control of one wrapped command."""

    def __init__(self, job_name: str, child: Child, recorder: JobRecorder, cancel_grace: float) -> None:
        self._child = child
        self._recorder = recorder
        self._cancel_grace = cancel_grace
        self._actions: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self.control = JobControl(job_name, arm=self._actions.put, acknowledge=self._acknowledge)
        # The cancel obeyed, once it is.
        self.cancelled: JobCancelled | None = None
        threading.Thread(target=self._run, name="jobpulse-run-control", daemon=True).start()

    def _acknowledge(self, event_name: str, attributes: Mapping[str, Any]) -> None:
        if event_name == EVENT_PAUSED:
            self._child.signal(signal.SIGSTOP)
        elif event_name == EVENT_RESUMED:
            self._child.signal(signal.SIGCONT)
        self._recorder.emit(event_name, attributes)

    def _run(self) -> None:
        while True:
            action = self._actions.get()
            try:
                action()
            except JobCancelled as cancel:
                self.cancelled = cancel
                self._child.signal(signal.SIGTERM)
                self._child.signal(signal.SIGCONT)
                if not self._child.exited.wait(self._cancel_grace):
                    self._child.signal(signal.SIGKILL)
                return
