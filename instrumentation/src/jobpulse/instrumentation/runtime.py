"""The process-wide reporter: created with the first job, flushed at interpreter exit."""

from __future__ import annotations

import atexit
import os
import threading

from . import config
from .reporter import Reporter

# After a failed export the receiver is probably down: exit quickly rather than wait it out.
EXIT_FLUSH_TIMEOUT_WHEN_FAILING_S = 1.0

_lock = threading.Lock()
_reporter: Reporter | None = None


def reporter() -> Reporter:
    """The reporter, started on first use; settings are frozen from then on."""
    global _reporter
    if _reporter is None:
        with _lock:
            if _reporter is None:
                _reporter = Reporter(config.freeze())
    return _reporter


def is_reporter_thread(thread_ident: int) -> bool:
    return _reporter is not None and _reporter.thread_ident == thread_ident


def flush(timeout: float = 5.0) -> bool:
    """Deliver everything jobs have emitted so far; True when done within `timeout` seconds.

    Failed attempts are retried with backoff until `timeout`. Ordinary scripts don't need it: the
    end of a job is sent right away and the interpreter flushes at exit. Useful before ``os._exit``.
    """
    return _reporter.flush(timeout) if _reporter is not None else True


@atexit.register
def _flush_at_exit() -> None:
    if _reporter is None:
        return
    timeout = _reporter.settings.exit_flush_timeout
    if _reporter.last_export_failed:
        timeout = min(timeout, EXIT_FLUSH_TIMEOUT_WHEN_FAILING_S)
    _reporter.flush(timeout, after_failure=EXIT_FLUSH_TIMEOUT_WHEN_FAILING_S)


def _forget_in_child() -> None:
    # The reporter thread does not survive fork(); a child that runs jobs starts its own.
    global _reporter
    _reporter = None


if hasattr(os, "register_at_fork"):  # POSIX only: without fork() there is nothing to forget
    os.register_at_fork(after_in_child=_forget_in_child)
