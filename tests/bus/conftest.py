"""Replicas on a real redis-server and a real PostgreSQL, all on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.alerting.conftest import FLEET_RULES, rules_off
from tests.alerting.receivers import HttpReceiver
from tests.conftest import require_binary
from tests.support.redis_server import RedisServer
from tests.support.sidecar import SidecarProcess, start_together

# Every failed job is notified on one channel; nothing else notifies.
ALERTING = """
[alerting]
evaluation_interval_s = 0.1
group_window_s = 0.1

[[alerting.channels]]
name = "ops"
url = "{hook}"
tags = ["ops"]

[alerting.rules.job_failed]
channels = ["ops"]

[alerting.rules.resource_pressure]
enabled = false
""" + rules_off(FLEET_RULES)


def start_redis(workdir: Path) -> RedisServer:
    return RedisServer(workdir / "redis", require_binary("redis-server")).start()


def replica_process(
    workdir: Path, name: str, database_url: str, redis: RedisServer, toml: str = "", **settings: Any
) -> SidecarProcess:
    """One replica, not yet started: the shared database and broker; control polls kept short so a stop
    is prompt."""
    config = workdir / f"{name}.toml"
    config.write_text(toml)
    return SidecarProcess(
        workdir,
        name=name,
        config=config,
        database_url=database_url,
        broker_url=redis.url,
        history_flush_interval_s=0.05,
        control_poll_max_wait_s=1,
        **settings,
    )


@pytest.fixture(scope="module")
def hook() -> Iterator[HttpReceiver]:
    with HttpReceiver() as server:
        yield server


@pytest.fixture(scope="module")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = start_redis(tmp_path_factory.mktemp("bus"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def replicas(
    tmp_path_factory: pytest.TempPathFactory, postgres_server: Any, redis: RedisServer, hook: HttpReceiver
) -> Iterator[tuple[SidecarProcess, SidecarProcess]]:
    """Replicas A and B on one database and one stream."""
    with replica_pair(tmp_path_factory.mktemp("replicas"), postgres_server, redis, hook, ALERTING) as pair:
        yield pair


@contextmanager
def replica_pair(
    workdir: Path, postgres: Any, redis: RedisServer, hook: HttpReceiver, toml: str, **settings: Any
) -> Iterator[tuple[SidecarProcess, SidecarProcess]]:
    """Replicas A and B on a new database of ``postgres``, notifying at ``hook``; stopped at the end."""
    url = postgres.new_database()
    toml = toml.format(hook=hook.url("json", "/ops"))
    first, second = start_together(
        replica_process(workdir, "a", url, redis, toml, **settings),
        replica_process(workdir, "b", url, redis, toml, **settings),
    )
    try:
        yield first, second
    finally:
        second.stop()
        first.stop()
