"""The compose stack's demo-jobs service: the jobpulse demo ETL jobs, run again and again.

Unlike ``jobpulse demo`` it starts no sidecar: each job is its own process and exports OTLP to
``OTEL_EXPORTER_OTLP_ENDPOINT`` (the OpenTelemetry Collector in compose/docker-compose.yml), as real
jobs would. ``DEMO_SPEED`` makes them faster (default 1). Stop with SIGTERM (docker stop).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from jobpulse.sidecar.demo.fake_api import FakeApi
from jobpulse.sidecar.demo.jobs import JOBS


def main() -> int:
    speed = float(os.environ.get("DEMO_SPEED", "1"))
    workdir = Path(tempfile.mkdtemp(prefix="jobpulse-demo-"))
    api = FakeApi().start()
    running: dict[str, subprocess.Popen[bytes]] = {}
    next_start = {name: time.monotonic() + random.uniform(0, 3) / speed for name in JOBS}
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(
        f"running demo jobs {', '.join(JOBS)} at speed {speed} -> {os.environ.get('OTEL_EXPORTER_OTLP_ENDPOINT')}",
        flush=True,
    )
    while not stopping:
        now = time.monotonic()
        for name in JOBS:
            process = running.get(name)
            if process is not None and process.poll() is not None:
                print(f"{name} exited with {process.returncode}", flush=True)
                del running[name]
                next_start[name] = now + random.uniform(3, 8) / speed
            if name not in running and now >= next_start[name]:
                command = [
                    sys.executable,
                    "-m",
                    "jobpulse.sidecar.demo.jobs",
                    name,
                    "--workdir",
                    str(workdir / name),
                    "--speed",
                    str(speed),
                    "--api-url",
                    api.url,
                ]
                running[name] = subprocess.Popen(command)
        time.sleep(0.2)
    for process in running.values():
        process.terminate()
    for process in running.values():
        process.wait(10)
    api.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
