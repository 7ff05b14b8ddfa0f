"""``jobpulse run [options] -- CMD [ARGS...]``: the entry point, and the exit that mirrors the command's."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import warnings
from collections.abc import Sequence

from jobpulse.instrumentation import configure, runtime

from .child import SignalForwarding
from .command import CommandJob
from .options import RunOptions, parse

# Killed by one of these, a process dumps core; the wrapper mirrors the death, not the dump.
_CORE_SIGNALS = frozenset(
    getattr(signal, name)
    for name in [
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGSEGV",
        "SIGSYS",
        "SIGXCPU",
        "SIGXFSZ",
    ]
    if hasattr(signal, name)
)


def main(argv: Sequence[str]) -> int:
    """Run the command; the exit status to leave with (unless the command died of a signal: then so does this)."""
    options = parse(argv)
    # The thread that passes the command's output through waits for the interpreter lock after every
    # read and write; with the default switch interval (5 ms), a command writing fast would wait on
    # the wrapper's other threads. A millisecond keeps it within a few percent of running alone.
    sys.setswitchinterval(0.001)
    _report_on_stderr(options.verbose)
    configure(**_settings(options))
    code = CommandJob(options).run(SignalForwarding().install())
    if code < 0:
        # Dying of the signal skips the interpreter's exit, which delivers what is left: do it now.
        jobs = runtime.current()
        jobs.delivery.close(jobs.settings.exit_flush_timeout)
        _die_of(-code)
        return 128 - code
    return code


def _settings(options: RunOptions) -> dict[str, object]:
    settings: dict[str, object] = {"endpoint": options.endpoint}
    # The jobs of a command are reported under its name, unless OpenTelemetry's settings name them.
    if not os.environ.get("OTEL_SERVICE_NAME") and "service.name=" not in os.environ.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    ):
        settings["service_name"] = options.name
    if os.name != "posix":
        settings["control"] = False
    return settings


def _report_on_stderr(verbose: bool) -> None:
    """The wrapper adds nothing to the command's output unless asked to: a missing sidecar is not the command's
    business."""
    handler: logging.Handler
    if verbose:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = logging.NullHandler()
        warnings.simplefilter("ignore")
    logging.getLogger().addHandler(handler)
    logging.getLogger("jobpulse").setLevel(logging.INFO if verbose else logging.CRITICAL + 1)


def _die_of(signum: int) -> None:
    """End this process by `signum`, so that its parent sees what the command's parent would have."""
    if signum in _CORE_SIGNALS:
        with contextlib.suppress(ImportError, ValueError, OSError):
            import resource

            resource.setrlimit(resource.RLIMIT_CORE, (0, resource.getrlimit(resource.RLIMIT_CORE)[1]))
    with contextlib.suppress(OSError, ValueError):  # SIGKILL has no handler to reset
        signal.signal(signum, signal.SIG_DFL)
    with contextlib.suppress(OSError, ValueError):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signum})
        os.kill(os.getpid(), signum)
