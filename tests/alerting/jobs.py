"""Real instrumented job processes for alerting scenarios."""

from __future__ import annotations

import signal
import uuid
from typing import Any

from tests.support.job_scripts import start_script
from tests.support.polling import wait_for

# Raises in its second step after logging, as a job whose upstream times out.
FAILING = """
import logging, os
from jobpulse.instrumentation import track_job

log = logging.getLogger("etl.orders")
with track_job(os.environ["JOB_NAME"], job_id=os.environ["JOB_ID"], job_type=os.environ["JOB_TYPE"],
               steps=["extract", "load"]) as job:
    with job.step("extract"):
        log.info("read 120 rows from orders.csv")
        job.advance(120)
    with job.step("load"):
        log.warning("slow response from the warehouse API")
        raise TimeoutError("warehouse API timed out after 30 s")
"""

# A batch runner: COUNT runs of one job type in one process, each failing at once.
BURST = """
import os
from jobpulse.instrumentation import track_job

for index in range(int(os.environ["COUNT"])):
    try:
        with track_job(f"{os.environ['JOB_NAME']}-{index}", job_type=os.environ["JOB_TYPE"]):
            raise ConnectionRefusedError("connection refused by crm.example.com:443")
    except ConnectionRefusedError:
        pass
"""

# Does what stdin says: "advance N [FAILED]", "alloc MB", "done" (or EOF). With INTERVAL it also
# advances by one every INTERVAL seconds on its own. TOTAL and EXPECTED (seconds) are declared.
STEERED = """
import os, select
from jobpulse.instrumentation import track_job

env = os.environ
interval = float(env.get("INTERVAL", "0")) or None
ballast = []
with track_job(env["JOB_NAME"], job_id=env["JOB_ID"], job_type=env.get("JOB_TYPE"),
               total=int(env.get("TOTAL", "0")) or None,
               expected_duration=float(env.get("EXPECTED", "0")) or None) as job:
    running = True
    while running:
        if not select.select([0], [], [], interval)[0]:
            job.advance()
            continue
        for command in os.read(0, 4096).decode().splitlines() or ["done"]:
            verb, *args = command.split()
            if verb == "advance":
                job.advance(int(args[0]), failed=int(args[1]) if len(args) > 1 else 0)
            elif verb == "alloc":
                ballast.append(b"x" * (int(args[0]) << 20))
            elif verb == "done":
                running = False
"""


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class JobProcess:
    """One job process started against a sidecar; ``send`` commands to a STEERED job."""

    def __init__(
        self, sidecar: Any, script: str = STEERED, *, name: str | None = None, job_type: str = "etl", **env: str
    ) -> None:
        self.id = uuid.uuid4().hex
        self.name = name or unique("job")
        self.job_type = job_type
        self.sidecar = sidecar
        self.process = start_script(script, sidecar.url, JOB_ID=self.id, JOB_NAME=self.name, JOB_TYPE=job_type, **env)

    def send(self, *commands: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("".join(f"{command}\n" for command in commands))
        self.process.stdin.flush()

    def seen(self) -> dict[str, Any]:
        """Wait until the sidecar knows the job; its summary."""
        return wait_for(
            lambda: (r := self.sidecar.get(f"/api/jobs/{self.id}")).status_code == 200 and r.json(), timeout=20
        )

    def finish(self, code: int = 0) -> None:
        if self.process.poll() is None and self.process.stdin is not None:
            self.send("done")
        assert self.process.wait(30) == code, self.process.stderr.read() if self.process.stderr else ""

    def send_signal(self, signum: signal.Signals) -> None:
        self.process.send_signal(signum)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
