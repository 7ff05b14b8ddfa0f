"""Real instrumented jobs, steered from a test through their stdin."""

from __future__ import annotations

import subprocess
import uuid

from tests.support.job_scripts import start_script

# Counts a record every 10 ms (each advance() is a control checkpoint) until stdin closes.
COUNTING_JOB = """
import sys, threading, time
from jobpulse.instrumentation import track_job
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
with track_job({name!r}, job_id={job_id!r}, job_type={job_type!r}) as job:
    while not stop.is_set():
        job.advance()
        time.sleep(0.01)
"""

# Logs each stdin line "LEVEL message" as a line of the job; ends at "end", fails at "fail".
TALKING_JOB = """
import sys
from jobpulse.instrumentation import track_job
with track_job({name!r}, job_id={job_id!r}, job_type={job_type!r}) as job:
    for line in sys.stdin:
        word, _, message = line.strip().partition(" ")
        if word == "end":
            break
        if word == "fail":
            raise RuntimeError(message)
        job.advance()
        job.log(message, level=word)
        job.checkpoint()
"""


class Job:
    """A job process and its id; ``say`` writes a line to its stdin."""

    def __init__(
        self, script: str, endpoint: str, *, name: str = "client-test", job_type: str = "client_test", **env: str
    ) -> None:
        self.id = uuid.uuid4().hex
        self.name = name
        self.job_type = job_type
        self.process: subprocess.Popen[str] = start_script(
            script.format(name=name, job_id=self.id, job_type=job_type), endpoint, **env
        )

    def say(self, *lines: str) -> None:
        assert self.process.stdin is not None
        for line in lines:
            self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def finish(self, timeout: float = 30) -> str:
        """Close stdin and wait for the process; its stderr."""
        _, stderr = self.process.communicate(timeout=timeout)
        return stderr

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()
