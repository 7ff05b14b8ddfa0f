"""The wrapped command as a process: started in a process group of its own, signalled, waited for.

Its own process group is what lets a pause stop the command and everything it started (SIGSTOP to
the group) without stopping the wrapper, which keeps sending heartbeats meanwhile. The signals the
wrapper receives (Ctrl+C, a service manager's SIGTERM, a hangup) are passed on to that group.

A process group that is not the terminal's foreground group is stopped when it reads the terminal.
So when the wrapper runs in the foreground of a terminal, the command's group is made the
foreground group: the command reads its input and gets Ctrl+C from the terminal as it would without
the wrapper, and Ctrl+Z stops it, and the wrapper with it, until ``fg``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Mapping, Sequence
from types import FrameType

POSIX = os.name == "posix"
# What the wrapper passes on to the command; a signal the wrapper was started ignoring stays
# ignored in both (nohup's SIGHUP). On Windows, Ctrl+C reaches every process of the console anyway.
FORWARDED = (
    (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2) if POSIX else ()
)
# Stops the terminal's job control makes: the wrapper stops too, so the shell gets the terminal back.
_TERMINAL_STOPS = frozenset(
    getattr(signal, name) for name in ("SIGTSTP", "SIGTTIN", "SIGTTOU") if hasattr(signal, name)
)


class Child:
    """The running command."""

    def __init__(self, process: subprocess.Popen[bytes], terminal: int | None) -> None:
        self.process = process
        self.pid = process.pid
        self._terminal = terminal
        self.exited = threading.Event()

    @classmethod
    def start(cls, argv: Sequence[str], env: Mapping[str, str]) -> Child:
        """Start `argv` with stdout and stderr piped to this process, in a process group of its own.

        Raises OSError (FileNotFoundError, PermissionError) when it cannot be started.
        """
        terminal = _foreground_terminal() if POSIX else None
        process = subprocess.Popen(
            list(argv),
            env=dict(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            # Descriptors the wrapper was given (a socket from systemd, `3>file`) reach the command
            # as they would without it; the wrapper's own are not inheritable.
            close_fds=False,
            **({"process_group": 0} if POSIX else {}),
        )
        child = cls(process, terminal)
        if terminal is not None:
            child._take_terminal()
        return child

    def signal(self, signum: int) -> None:
        """Send `signum` to the command's process group (to the command alone where there are none)."""
        if self.exited.is_set():
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if POSIX:
                os.killpg(self.pid, signum)
            else:
                self.process.send_signal(signum)

    def wait(self) -> int:
        """Wait for the command to end; its exit code, or minus the signal that killed it (as Popen says)."""
        if not POSIX:
            code = self.process.wait()
        else:
            while True:
                _, status = os.waitpid(self.pid, os.WUNTRACED if self._terminal is not None else 0)
                if not os.WIFSTOPPED(status):
                    break
                if os.WSTOPSIG(status) in _TERMINAL_STOPS:
                    self._stop_with_the_command()
            code = os.waitstatus_to_exitcode(status)
            self.process.returncode = code
        self.exited.set()
        if self._terminal is not None:
            self._give_back_terminal()
        return code

    def _take_terminal(self) -> None:
        _set_foreground(self._terminal, self.pid)  # type: ignore[arg-type]
        # Had it read the terminal before it was given it, it was stopped: let it go on.
        self.signal(signal.SIGCONT)

    def _give_back_terminal(self) -> None:
        _set_foreground(self._terminal, os.getpgrp())  # type: ignore[arg-type]
        os.close(self._terminal)  # type: ignore[arg-type]
        self._terminal = None

    def _stop_with_the_command(self) -> None:
        """Ctrl+Z stopped the command: stop the wrapper too, and when continued (fg), continue it."""
        _set_foreground(self._terminal, os.getpgrp())  # type: ignore[arg-type]
        os.kill(os.getpid(), signal.SIGSTOP)
        if os.tcgetpgrp(self._terminal) == os.getpgrp():  # type: ignore[arg-type]
            self._take_terminal()  # continued in the foreground (fg), not in the background (bg)
        else:
            self.signal(signal.SIGCONT)


class SignalForwarding:
    """Passes the signals the wrapper receives on to the command, from before it starts.

    Installed for the rest of the wrapper's life: once the command has ended, they are ignored, so
    that a Ctrl+C while the last records go out does not end in a traceback.
    """

    def __init__(self) -> None:
        self._child: Child | None = None
        self._pending: list[int] = []
        self.received: list[int] = []

    def install(self) -> SignalForwarding:
        """Catch the signals to pass on (call from the main thread)."""
        for signum in FORWARDED:
            if signal.getsignal(signum) is not signal.SIG_IGN:
                signal.signal(signum, self._forward)
        return self

    def attach(self, child: Child) -> None:
        """From now on signals go to `child`; those received while it was being started go now."""
        self._child = child
        pending, self._pending = self._pending, []
        for signum in pending:
            child.signal(signum)

    def _forward(self, signum: int, frame: FrameType | None) -> None:
        self.received.append(signum)
        if self._child is None:
            self._pending.append(signum)
        else:
            self._child.signal(signum)


def _foreground_terminal() -> int | None:
    """The controlling terminal, open, when this process's group is its foreground group; else None."""
    try:
        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        return None  # no controlling terminal: cron, systemd, CI
    try:
        if os.tcgetpgrp(fd) == os.getpgrp():
            return fd
    except OSError:
        pass
    os.close(fd)
    return None


def _set_foreground(terminal: int, group: int) -> None:
    # A background group that sets the foreground gets SIGTTOU unless it blocks it.
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTTOU})
    try:
        with contextlib.suppress(OSError):
            os.tcsetpgrp(terminal, group)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
