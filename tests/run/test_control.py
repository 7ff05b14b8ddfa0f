"""Pause, resume and cancel over REST, for a command that knows nothing of them: signals to its group."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import psutil

from tests.run.wrapper import job_named, script, start, unique
from tests.support.polling import wait_for

COUNTER = """
    import itertools, signal, sys, time
    if "--ignore-term" in sys.argv:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    for i in itertools.count():
        print(i, flush=True)
        time.sleep(0.02)
"""


class Lines:
    """The lines a process writes to its stdout, read on a thread as they come."""

    def __init__(self, stream) -> None:
        self.lines: list[bytes] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in iter(stream.readline, b""):
            self.lines.append(line)

    def count(self) -> int:
        return len(self.lines)


def control(sidecar, job_id: str, action: str) -> None:
    response = sidecar.post(f"/api/jobs/{job_id}/{action}", headers={"x-jobpulse-user": "ops"})
    assert response.status_code == 202, response.text


def the_command(wrapper) -> psutil.Process:
    [command] = wait_for(lambda: psutil.Process(wrapper.pid).children())
    return command


def test_pause_freezes_the_commands_output_and_resume_continues_it(shared_sidecar, tmp_path: Path) -> None:
    sidecar, name = shared_sidecar, unique("counter")
    wrapper = start(["--name", name, "--", sys.executable, script(tmp_path, COUNTER)], sidecar.url)
    try:
        output = Lines(wrapper.stdout)
        job_id = job_named(sidecar, name).id
        wait_for(lambda: output.count() > 5)

        control(sidecar, job_id, "pause")
        wait_for(lambda: (found := sidecar.job(job_id)).status == "paused" and not found.pause_requested)
        command = the_command(wrapper)
        wait_for(lambda: command.status() == psutil.STATUS_STOPPED)
        frozen = output.count()
        time.sleep(1.0)  # the pause window itself: the counter, printing every 20 ms, must not move
        assert output.count() <= frozen + 1, "at most a line already in the pipe when the group stopped"
        assert wrapper.poll() is None
        assert sidecar.job(job_id).status == "paused", "the wrapper's heartbeat goes on"

        control(sidecar, job_id, "resume")
        wait_for(lambda: (found := sidecar.job(job_id)).status == "running" and not found.resume_requested)
        resumed = output.count()
        wait_for(lambda: output.count() > resumed + 10)
        numbers = [int(line) for line in output.lines]
        assert numbers == list(range(len(numbers))), "nothing lost, nothing repeated"

        control(sidecar, job_id, "cancel")
        assert wrapper.wait(15) == -15, "the counter dies of the SIGTERM, and the wrapper with it"
    finally:
        wrapper.kill()
    ended = sidecar.client.wait_for_end(job_id, timeout=10)
    assert ended.status == "cancelled"
    assert not ended.cancel_requested
    assert ended.error is None


def test_cancel_kills_a_command_that_ignores_sigterm_once_the_grace_period_is_over(
    shared_sidecar, tmp_path: Path
) -> None:
    sidecar, name = shared_sidecar, unique("stubborn")
    command = [sys.executable, script(tmp_path, COUNTER), "--ignore-term"]
    wrapper = start(["--name", name, "--cancel-grace", "1.5", "--", *command], sidecar.url)
    try:
        output = Lines(wrapper.stdout)
        job_id = job_named(sidecar, name).id
        wait_for(lambda: output.count() > 5)
        asked = time.monotonic()
        control(sidecar, job_id, "cancel")
        assert wrapper.wait(15) == -9
        took = time.monotonic() - asked
    finally:
        wrapper.kill()
    assert 1.5 <= took < 10, f"SIGKILL came {took:.1f} s after the cancel"
    assert sidecar.client.wait_for_end(job_id, timeout=10).status == "cancelled"
