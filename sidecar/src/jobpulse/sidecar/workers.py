"""``jobpulse sidecar --workers N``: N sidecar processes on one machine, behind one port.

Each worker is a whole sidecar (``jobpulse sidecar --worker I``, reading the same settings file,
environment and flags) that binds the port with SO_REUSEPORT: the kernel spreads new connections
evenly over the workers' listening sockets, and a worker joins the spread only once it listens, after
its start-up. The parent serves nothing: it starts the workers, passes SIGINT, SIGTERM and SIGHUP on
to them, restarts one that dies (with backoff, logged), and when told to stop waits for them and ends
the way they did. docs/deployment.md says why this model and not uvicorn's own.

Live state (jobs in memory, the feed) is per process: workers only make one sidecar together through
the bus (``broker_url``) and a database they share, so more than one worker needs both.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import logging
import os
import signal
import socket
import sys
from collections.abc import Sequence

from sqlalchemy.engine import make_url
from uvicorn.logging import DefaultFormatter

from jobpulse.sidecar.settings import Settings

log = logging.getLogger("jobpulse.sidecar.workers")

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
STOPPING = (signal.SIGINT, signal.SIGTERM)

_FIRST_RESTART_S = 0.5
_LAST_RESTART_S = 30.0
# A worker that ran this long before it died is restarted after the first delay again.
_STEADY_S = 60.0
_PR_SET_PDEATHSIG = 1


def workers_error(settings: Settings, workers: int) -> str | None:
    """Why ``workers`` sidecar processes cannot serve with ``settings``, or None."""
    if workers <= 1:
        return None
    unmet = []
    if settings.broker_url is None:
        unmet.append("broker_url is not set")
    if make_url(settings.database_url).get_backend_name() == "sqlite":
        unmet.append("database_url is SQLite")
    if unmet:
        return (
            f"--workers {workers} needs broker_url (JOBPULSE_BROKER_URL, a redis:// URL) and a PostgreSQL "
            f"database_url (JOBPULSE_DATABASE_URL): each worker holds live state of its own, which only the bus "
            f"and a shared database make one; here {' and '.join(unmet)}"
        )
    if sys.platform != "linux":
        return f"--workers {workers} needs Linux: the workers share the port with SO_REUSEPORT, which Linux balances"
    if settings.port == 0:
        return f"--workers {workers} needs a port: with port 0 each worker would listen on a port of its own"
    return None


def shared_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` with SO_REUSEPORT, not yet listening (uvicorn listens once the
    app has started, so a starting worker gets no connections)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def port_error(host: str, port: int) -> str | None:
    """Why the workers could not share ``host:port`` (another program holds it), or None."""
    try:
        shared_socket(host, port).close()
    except OSError as error:
        reason = "another program listens there" if error.errno == errno.EADDRINUSE else error.strerror
        return f"cannot listen on {host}:{port}: {reason}"
    return None


class Supervisor:
    """Runs one command per worker until told to stop; restarts a worker that ends before that."""

    def __init__(self, commands: Sequence[Sequence[str]]) -> None:
        self.commands = commands
        self.processes: dict[int, asyncio.subprocess.Process] = {}
        self.stopping: signal.Signals | None = None
        self._stopped = asyncio.Event()
        self._parent = os.getpid()
        self._libc = ctypes.CDLL(None, use_errno=True)

    def run(self) -> int:
        """Supervise until the workers have stopped; their status: an exit code, or minus the signal
        that ended them."""
        return asyncio.run(self._run())

    async def _run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in FORWARDED:
            loop.add_signal_handler(sig, self._signalled, sig)
        statuses = await asyncio.gather(*(self._keep(index) for index in range(len(self.commands))))
        return ended_as(statuses)

    def _signalled(self, sig: signal.Signals) -> None:
        if sig in STOPPING:
            if self.stopping is None:
                log.info("%s: stopping %d workers", sig.name, len(self.commands))
            self.stopping = sig
            self._stopped.set()
        for process in self.processes.values():
            if process.returncode is None:
                process.send_signal(sig)

    def _as_worker(self) -> None:
        """In the worker, before it runs: SIGTERM when the parent dies, however it dies."""
        self._libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != self._parent:
            os._exit(1)

    async def _keep(self, index: int) -> int:
        number = index + 1
        delay = _FIRST_RESTART_S
        loop = asyncio.get_running_loop()
        while True:
            # Their own process group: a terminal's Ctrl+C reaches the parent alone, which passes it on once.
            process = await asyncio.create_subprocess_exec(
                *self.commands[index], process_group=0, preexec_fn=self._as_worker
            )
            self.processes[index] = process
            if self.stopping is not None:
                process.send_signal(self.stopping)
            log.info("worker %d started (pid %d)", number, process.pid)
            began = loop.time()
            status = await process.wait()
            if self.stopping is not None:
                return status
            if loop.time() - began >= _STEADY_S:
                delay = _FIRST_RESTART_S
            log.warning("worker %d (pid %d) %s; restarting it in %.1f s", number, process.pid, describe(status), delay)
            try:
                await asyncio.wait_for(self._stopped.wait(), delay)
            except TimeoutError:
                delay = min(delay * 2, _LAST_RESTART_S)
            else:
                return status


def describe(status: int) -> str:
    if status < 0:
        return f"was killed by {signal.Signals(-status).name}"
    return f"exited with status {status}"


def ended_as(statuses: Sequence[int]) -> int:
    """How the parent ends: with the first worker's error exit code if any had one, else as they
    ended (a signal, as a single sidecar stopped by that signal does, or 0)."""
    errors = [status for status in statuses if status > 0]
    if errors:
        return errors[0]
    signalled = [status for status in statuses if status < 0]
    return signalled[0] if signalled else 0


def end_as(status: int) -> int:
    """Exit code for ``status``; a signal status is re-raised on this process with its default action."""
    if status < 0:
        signal.signal(-status, signal.SIG_DFL)
        signal.raise_signal(-status)
    return status


def log_to_stderr(level: str) -> None:
    """The parent's own lines, formatted as uvicorn formats the workers'."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(DefaultFormatter("%(levelprefix)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(level.upper() if level != "trace" else "DEBUG")
    log.propagate = False
