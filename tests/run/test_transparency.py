"""Without a sidecar, a wrapped command behaves as it would without the wrapper: same bytes, same exit."""

from __future__ import annotations

import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.run.wrapper import JOBPULSE_RUN, run, script, start
from tests.support.job_scripts import REPO, job_env
from tests.support.ports import free_port

# Nothing listens there.
NO_SIDECAR = f"http://127.0.0.1:{free_port()}"

NOISY = """
    import os, sys
    for i in range(2000):
        os.write(1, b"line %d of stdout\\n" % i)
        if i % 100 == 0:
            os.write(2, b"\\r%d%% partial \\xff\\xfe not utf-8" % (i // 20))
    os.write(1, bytes(range(256)) + b"\\r\\r\\n\\rno newline at the end")
    os.write(2, b"\\x1b[31mERROR\\x1b[0m: coloured\\n")
    sys.exit(7)
"""


def test_output_bytes_and_exit_code_are_the_commands_and_it_ends_promptly(tmp_path: Path) -> None:
    command = [sys.executable, script(tmp_path, NOISY)]
    direct = subprocess.run(command, capture_output=True, timeout=60, env=job_env(None))
    started = time.monotonic()
    wrapped = run(["--", *command], NO_SIDECAR)
    elapsed = time.monotonic() - started
    assert wrapped.returncode == direct.returncode == 7
    assert wrapped.stdout == direct.stdout
    assert wrapped.stderr == direct.stderr, "the wrapper adds nothing of its own to stderr"
    assert elapsed < 10, f"without a sidecar it took {elapsed:.1f} s"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL])
def test_a_command_killed_by_a_signal_kills_the_wrapper_with_it(signum: int) -> None:
    command = ["sh", "-c", f"echo before; kill -{signum} $$; echo never"]
    direct = subprocess.run(command, capture_output=True, timeout=30)
    wrapped = run(["--", *command], NO_SIDECAR)
    assert wrapped.returncode == direct.returncode == -signum
    assert wrapped.stdout == direct.stdout == b"before\n"


TRAPS = """
    import signal, sys
    def caught(signum, frame):
        print("got", signal.Signals(signum).name, flush=True)
        sys.exit(0)
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        signal.signal(getattr(signal, name), caught)
    print("ready", flush=True)
    while True:
        signal.pause()
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_signals_sent_to_the_wrapper_reach_the_command(tmp_path: Path, signum: int) -> None:
    wrapper = start(["--", sys.executable, script(tmp_path, TRAPS)], NO_SIDECAR)
    try:
        assert wrapper.stdout.readline() == b"ready\n"  # type: ignore[union-attr]
        wrapper.send_signal(signum)
        out, err = wrapper.communicate(timeout=30)
    finally:
        wrapper.kill()
    assert out == f"got {signal.Signals(signum).name}\n".encode()
    assert wrapper.returncode == 0, err


def shell(line: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", line], capture_output=True, text=True, timeout=60, env=job_env(NO_SIDECAR), cwd=REPO
    )


def test_a_reader_that_goes_away_stops_the_command_as_it_would_without_the_wrapper() -> None:
    wrapper = shlex.join(JOBPULSE_RUN)
    direct = shell('yes | head -1; echo "yes ended with ${PIPESTATUS[0]}"')
    wrapped = shell(f'{wrapper} -- yes | head -1; echo "yes ended with ${{PIPESTATUS[0]}}"')
    assert wrapped.stdout == direct.stdout == "y\nyes ended with 141\n"  # 128 + SIGPIPE


def test_descriptors_given_to_the_wrapper_reach_the_command(tmp_path: Path) -> None:
    out = tmp_path / "fd3.txt"
    done = shell(f"{shlex.join(JOBPULSE_RUN)} -- sh -c 'echo through fd 3 >&3' 3>{shlex.quote(str(out))}")
    assert done.returncode == 0, done.stderr
    assert out.read_text() == "through fd 3\n"


def test_a_command_that_is_not_there_is_what_a_shell_says() -> None:
    wrapped = run(["--", "no-such-command-here"], NO_SIDECAR)
    assert wrapped.returncode == 127
    assert wrapped.stderr == b"jobpulse run: no-such-command-here: command not found\n"
