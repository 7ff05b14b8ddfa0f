"""``jobpulse watch`` in a pseudo-terminal, with a real sidecar and real jobs: the table moves, keys
steer the selected job, the feed's reconnection shows, and the terminal is given back as it was."""

from __future__ import annotations

import re
import signal
import subprocess
import termios
import uuid

import pytest

from tests.client.scripts import Job
from tests.support.polling import wait_for
from tests.support.sidecar import SidecarProcess
from tests.terminal.console import Terminal

# Counts ten records every 10 ms of a total of a million (each advance() is a control checkpoint)
# until stdin closes.
LONG_JOB = """
import sys, threading, time
from jobpulse.instrumentation import track_job
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
with track_job({name!r}, job_id={job_id!r}, job_type={job_type!r}, total=1_000_000) as job:
    while not stop.is_set():
        job.advance(10)
        time.sleep(0.01)
"""
PERCENT = re.compile(r" (\d+\.\d)% ")


def status(sidecar: SidecarProcess, job_id: str) -> str:
    return sidecar.get(f"/api/jobs/{job_id}").json()["status"]


@pytest.fixture
def long_job(shared_sidecar):
    job = Job(
        LONG_JOB, shared_sidecar.url, name=f"watched-{uuid.uuid4().hex[:8]}", job_type=f"watch_{uuid.uuid4().hex[:8]}"
    )
    wait_for(lambda: shared_sidecar.get(f"/api/jobs/{job.id}").status_code == 200, timeout=20)
    yield job
    job.kill()


def test_watch_shows_progress_and_steers_the_selected_job_with_keys(shared_sidecar, long_job) -> None:
    screen = Terminal("watch", "--type", long_job.job_type, "--url", shared_sidecar.url)
    try:
        percentages = lambda text: {  # noqa: E731
            match for row in text.splitlines() if f" {long_job.name} " in row for match in PERCENT.findall(row)
        }
        screen.wait_for(lambda text: len(percentages(text)) >= 3)
        assert all(f"▶  {long_job.name} " in row for row in screen.rows(long_job.name)), "the only job is selected"

        mark = screen.press(b"p")
        screen.wait_for(lambda text: f"pause of {long_job.name} ({long_job.id}) requested" in text, since=mark)
        screen.wait_for(lambda _: any(" paused " in row for row in screen.rows(long_job.name, since=mark)))
        assert status(shared_sidecar, long_job.id) == "paused", "the job acknowledged"

        mark = screen.press(b"r")
        screen.wait_for(lambda _: any(" running " in row for row in screen.rows(long_job.name, since=mark)))
        assert status(shared_sidecar, long_job.id) == "running"
        screen.wait_for(lambda text: len(percentages(text)) >= 2, since=mark)

        mark = screen.press(b"c")
        screen.wait_for(lambda text: f"cancel {long_job.name} ({long_job.id})? y cancels it" in text, since=mark)
        mark = screen.press(b"n")
        screen.wait_for(lambda text: f"{long_job.name} ({long_job.id}) not cancelled" in text, since=mark)
        assert status(shared_sidecar, long_job.id) == "running"

        screen.press(b"q")
        assert screen.wait() == 0
        assert screen.output.endswith(b"\x1b[?25h\x1b[?1049l"), "cursor shown, the screen as it was"
        assert termios.tcgetattr(screen.slave) == screen.mode, "echo and line editing back on"
    finally:
        screen.close()


def test_watch_cancels_after_confirmation_and_gives_the_terminal_back_on_sigterm(shared_sidecar, long_job) -> None:
    screen = Terminal(
        "watch",
        "--url",
        shared_sidecar.url,
        "--type",
        long_job.job_type,
        "--status",
        "running",
        "--status",
        "cancelled",
    )
    try:
        screen.wait_for(lambda _: screen.rows(long_job.name))
        screen.press(b"c")
        mark = screen.press(b"y")
        screen.wait_for(lambda _: any(" cancelled " in row for row in screen.rows(long_job.name, since=mark)))
        assert long_job.process.wait(15) != 0, "the job was cancelled"
        screen.process.send_signal(signal.SIGTERM)
        assert screen.wait() == 128 + signal.SIGTERM, "a service manager's stop ends it too"
        assert termios.tcgetattr(screen.slave) == screen.mode
    finally:
        screen.close()


def test_watch_only_shows_when_standard_input_is_not_a_terminal(shared_sidecar, long_job) -> None:
    screen = Terminal("watch", "--url", shared_sidecar.url, "--type", long_job.job_type, stdin=subprocess.DEVNULL)
    try:
        screen.wait_for(lambda text: screen.rows(long_job.name) and "display only" in text)
        mark = screen.press(b"p")
        screen.wait_for(lambda _: len(screen.rows(long_job.name, since=mark)) >= 3)
        assert status(shared_sidecar, long_job.id) == "running", "keys go nowhere"
        screen.process.send_signal(signal.SIGINT)
        assert screen.wait() == 130
        assert screen.output.endswith(b"\x1b[?25h\x1b[?1049l")
    finally:
        screen.close()


def test_watch_shows_the_reconnection_and_the_resync_after_a_sidecar_restart(tmp_path) -> None:
    sidecar = SidecarProcess(tmp_path).start()
    job = Job(LONG_JOB, sidecar.url, name=f"restarted-{uuid.uuid4().hex[:8]}")
    screen = Terminal("watch", "--url", sidecar.url)
    try:
        screen.wait_for(lambda _: screen.rows(job.name))
        mark = len(screen.output)
        sidecar.stop()
        screen.wait_for(lambda text: "reconnecting to the live feed" in text, since=mark)
        assert screen.rows(job.name, since=mark), "the table stays while the feed is away"
        sidecar.start()
        mark = len(screen.output)
        screen.wait_for(lambda text: "resynced: the sidecar could not replay what was missed" in text, since=mark)
        screen.wait_for(lambda _: screen.rows(job.name, since=mark))
        screen.press(b"q")
        assert screen.wait() == 0
    finally:
        screen.close()
        job.kill()
        sidecar.stop_soon()
