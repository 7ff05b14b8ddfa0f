"""The ``jobpulse`` command as people and scripts run it: in a pseudo-terminal, or with pipes."""

from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.support.sidecar import REPO

# CSI sequences (colours, cursor moves, modes) and the other two-byte escapes rich writes.
_ESCAPES = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>]")
ROWS, COLUMNS = 30, 160


def command_env(**variables: str) -> dict[str, str]:
    """This environment without jobpulse or OTel settings, plus ``variables``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("OTEL_", "JOBPULSE_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.update(variables)
    return env


def jobpulse(*args: str, timeout: float = 30, **variables: str) -> subprocess.CompletedProcess[str]:
    """Run ``jobpulse ARGS`` with pipes and wait for it."""
    return subprocess.run(
        [sys.executable, "-m", "jobpulse.sidecar", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=command_env(**variables),
        cwd=REPO,
    )


def jobpulse_each(*commands: list[str], **variables: str) -> list[subprocess.CompletedProcess[str]]:
    """``jobpulse(*command)`` for each of ``commands``, which must not depend on each other, run side by
    side: each is mostly the interpreter importing, so together they take about the time of one per core."""
    with ThreadPoolExecutor(len(commands)) as pool:
        return list(pool.map(lambda command: jobpulse(*command, **variables), commands))


def plain(output: bytes) -> str:
    """Terminal output without its escape sequences."""
    return _ESCAPES.sub("", output.decode(errors="replace"))


class Terminal:
    """``jobpulse ARGS`` with a pseudo-terminal as its screen (and its keyboard, unless ``stdin`` is
    given). ``output`` holds every byte it wrote so far; reads wait with deadlines."""

    def __init__(self, *args: str, stdin: Any = None, **variables: str) -> None:
        self.master, self.slave = os.openpty()
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
        self.mode = termios.tcgetattr(self.slave)
        self.output = b""
        self.process = subprocess.Popen(
            [sys.executable, "-m", "jobpulse.sidecar", *args],
            stdin=self.slave if stdin is None else stdin,
            stdout=self.slave,
            stderr=self.slave,
            env=command_env(TERM="xterm-256color", **variables),
            cwd=REPO,
            start_new_session=True,
        )

    def read(self, timeout: float) -> None:
        """Take what the command writes for up to ``timeout`` seconds (less once it exited)."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([self.master], [], [], min(left, 0.05))
            if ready:
                try:
                    self.output += os.read(self.master, 1 << 16)
                except OSError:  # the command exited and nothing else holds the terminal
                    return
            elif self.process.poll() is not None:
                return

    def wait_for(self, predicate: Any, timeout: float = 20.0, since: int = 0) -> Any:
        """The first truthy ``predicate(text)`` over the output from byte ``since``, reading as it comes."""
        deadline = time.monotonic() + timeout
        while True:
            exited = self.process.poll() is not None
            self.read(0.1)
            value = predicate(plain(self.output[since:]))
            if value:
                return value
            if exited or time.monotonic() >= deadline:
                raise AssertionError(f"not on the screen within {timeout} s:\n{plain(self.output[-3000:])}")

    def rows(self, name: str, since: int = 0) -> list[str]:
        """Every drawn table row of the job named ``name``, oldest first."""
        return [line for line in plain(self.output[since:]).splitlines() if f" {name} " in line]

    def press(self, key: bytes) -> int:
        """Type ``key``; the output offset before it, to look only at what came after."""
        mark = len(self.output)
        os.write(self.master, key)
        return mark

    def wait(self, timeout: float = 20.0) -> int:
        """The exit code, reading the output until the command exits."""
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            self.read(0.1)
        code = self.process.wait(max(deadline - time.monotonic(), 0.1))
        self.read(0.2)
        return code

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        os.close(self.master)
        os.close(self.slave)
