"""``jobpulse sidecar --workers N``: refused without the bus and PostgreSQL; otherwise N real worker
processes answer on one port, a worker that dies is restarted, and SIGTERM stops them all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import psutil
import pytest

from tests.conftest import require_binary
from tests.support import loopback
from tests.support.polling import wait_for
from tests.support.redis_server import RedisServer
from tests.support.sidecar import SidecarProcess

WORKERS = 3
STOP_DEADLINE_S = 20


def jobpulse_sidecar(tmp_path: Path, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("JOBPULSE_")}
    env.update({f"JOBPULSE_{key.upper()}": value for key, value in settings.items()})
    env["XDG_DATA_HOME"] = str(tmp_path)
    return subprocess.run(
        [sys.executable, "-m", "jobpulse.sidecar", "sidecar", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )


def test_more_than_one_worker_needs_the_bus_and_postgresql(tmp_path):
    needs = (
        "jobpulse: --workers 2 needs broker_url (JOBPULSE_BROKER_URL, a redis:// URL) and a PostgreSQL "
        "database_url (JOBPULSE_DATABASE_URL): each worker holds live state of its own, which only the bus "
        "and a shared database make one; here "
    )
    # Each is refused before it serves anything: side by side, they take about the time of one per core.
    with ThreadPoolExecutor() as pool:
        neither, no_bus, no_postgresql, no_workers = pool.map(
            lambda run: run(),
            [
                partial(jobpulse_sidecar, tmp_path, "--workers", "2"),
                partial(
                    jobpulse_sidecar,
                    tmp_path,
                    "--workers",
                    "2",
                    database_url="postgresql+asyncpg://jobpulse@127.0.0.1/db",
                ),
                partial(jobpulse_sidecar, tmp_path, "--workers", "2", broker_url="redis://127.0.0.1:6379/0"),
                partial(jobpulse_sidecar, tmp_path, "--workers", "0"),
            ],
        )
    assert neither.returncode == 2
    assert neither.stderr.strip() == needs + "broker_url is not set and database_url is SQLite"
    assert (no_bus.returncode, no_bus.stderr.strip()) == (2, needs + "broker_url is not set")
    assert (no_postgresql.returncode, no_postgresql.stderr.strip()) == (2, needs + "database_url is SQLite")
    assert no_workers.returncode == 2


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis", require_binary("redis-server")).start()
    yield server
    server.stop()


def answering_pid(fleet: SidecarProcess) -> int:
    """The pid of the worker that answered a request on a new connection."""
    detail = loopback.get(fleet.url + "/readyz", timeout=10).json()["details"]["process"]
    return int(detail.removeprefix("pid "))


def every_worker_answers(fleet: SidecarProcess, workers: set[int]) -> None:
    answered: set[int] = set()
    wait_for(lambda: answered.add(answering_pid(fleet)) or answered == workers, timeout=30, interval=0)


def test_workers_share_one_port_are_restarted_and_stop_together(tmp_path, postgres_server, redis):
    fleet = SidecarProcess(
        tmp_path,
        argv=[sys.executable, "-m", "jobpulse.sidecar", "sidecar", "--workers", str(WORKERS)],
        name="fleet",
        database_url=postgres_server.new_database(),
        broker_url=redis.url,
    ).start(timeout=60)
    try:
        parent = psutil.Process(fleet.pid)
        workers = wait_for(lambda: len(found := parent.children()) == WORKERS and found, timeout=30)
        every_worker_answers(fleet, {worker.pid for worker in workers})

        victim = workers[1]
        victim.kill()
        renewed = wait_for(
            lambda: len(found := parent.children()) == WORKERS and victim.pid not in {w.pid for w in found} and found,
            timeout=30,
        )
        assert f"(pid {victim.pid}) was killed by SIGKILL; restarting it in 0.5 s" in fleet.log()
        every_worker_answers(fleet, {worker.pid for worker in renewed})

        fleet.process.send_signal(signal.SIGTERM)
        assert fleet.process.wait(STOP_DEADLINE_S) == -signal.SIGTERM, "ends as a single sidecar does"
        _, alive = psutil.wait_procs(renewed, timeout=1)
        assert alive == []
        assert f"SIGTERM: stopping {WORKERS} workers" in fleet.log()
        assert fleet.log().count("Application shutdown complete.") == WORKERS, fleet.log()
    finally:
        fleet.kill()
