"""Alerting test fixtures: real receivers, an in-process alerting stack, and sidecars configured by TOML."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from jobpulse.sidecar.alerting.config import AlertingSettings
from jobpulse.sidecar.alerting.delivery import Channel, Delivery
from jobpulse.sidecar.alerting.engine import AlertEngine
from jobpulse.sidecar.alerting.repository import AlertRepository
from jobpulse.sidecar.model.events import JobEvent
from jobpulse.sidecar.storage.engine import create_engine
from jobpulse.sidecar.storage.migrate import migrate
from jobpulse.sidecar.store import JobStore
from tests.alerting.receivers import HttpReceiver, SmtpReceiver
from tests.support.job_events import T0, S
from tests.support.sidecar import SidecarProcess


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with HttpReceiver() as server:
        yield server


@pytest.fixture(scope="module")
def module_receiver() -> Iterator[HttpReceiver]:
    with HttpReceiver() as server:
        yield server


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpReceiver]:
    with SmtpReceiver() as server:
        yield server


# The sidecar's rules about single jobs, and about the fleet and itself: tests switch off those they
# do not look at, so that nothing else notifies their channels.
JOB_RULES = (
    "job_failed",
    "job_overdue",
    "job_predicted_overrun",
    "job_stalled",
    "job_lost",
    "resource_pressure",
    "error_rate",
)
FLEET_RULES = (
    "fleet_failure_rate",
    "queue_depth",
    "queue_wait",
    "job_missed",
    "feed_delay",
    "ingest_lag",
    "feed_connection_failures",
)


def rules_off(rules: Iterable[str]) -> str:
    """Settings (TOML) switching ``rules`` off."""
    return "".join(f"\n[alerting.rules.{rule}]\nenabled = false\n" for rule in rules)


def start_sidecar(workdir: Path, toml: str, **settings: Any) -> SidecarProcess:
    """A sidecar reading ``toml`` as its settings file (JOBPULSE_CONFIG).

    Control long polls are kept short: a SIGKILLed job leaves its poll open, and a graceful stop
    waits for open requests.
    """
    config = workdir / "jobpulse.toml"
    config.write_text(toml)
    return SidecarProcess(workdir, config=config, control_poll_max_wait_s=1, **settings).start()


class Clock:
    """The engine's clock, moved by hand (delivery keeps real time: its retries really wait)."""

    def __init__(self, now_ns: int) -> None:
        self.now_ns = now_ns

    def __call__(self) -> int:
        return self.now_ns


class Stack:
    """JobStore -> AlertEngine -> Delivery -> real Apprise -> loopback receivers, on a real database.

    The ticker never runs by itself (a one-hour interval): ``tick()`` moves the clock and runs it.
    """

    def __init__(self, database_url: str, settings: dict[str, Any], clock: Clock | None = None) -> None:
        self.settings = msgspec.convert({"evaluation_interval_s": 3600, **settings}, AlertingSettings)
        self.clock = clock or Clock(T0 + 100 * S)
        self.store = JobStore()
        self.database = create_engine(database_url)
        self.repository = AlertRepository(self.database)
        self.delivery = Delivery(
            [Channel(config) for config in self.settings.channels], self.settings.delivery, self.repository
        )
        self.engine = AlertEngine(self.settings, self.store, self.repository, self.delivery, clock_ns=self.clock)

    async def start(self) -> Stack:
        await migrate(self.database)
        await self.delivery.start()
        await self.engine.start()
        return self

    async def stop(self) -> None:
        await self.engine.stop()
        await self.delivery.stop()
        await self.repository.stop()
        await self.database.dispose()

    def apply(self, *runs: Iterable[JobEvent]) -> None:
        for events in runs:
            self.store.apply_all(events)

    async def tick(self, seconds: float = 0.0) -> None:
        """Move the clock, run one evaluation, and wait until delivery has sent what it was handed."""
        self.clock.now_ns += int(seconds * S)
        self.engine.tick()
        await self.drain()

    async def drain(self) -> None:
        await asyncio.gather(*(channel.queue.join() for channel in self.delivery.channels if channel.queue))
        await self.repository.flush()


@pytest.fixture
async def make_stack(tmp_path: Path, receiver: HttpReceiver) -> AsyncIterator[Any]:
    """``await make_stack(settings, database_url=None, clock=None)``: started stacks, stopped afterwards
    (before ``receiver`` closes, so what they still send at shutdown arrives)."""
    stacks: list[Stack] = []

    async def make(settings: dict[str, Any], database_url: str | None = None, clock: Clock | None = None) -> Stack:
        url = database_url or f"sqlite+aiosqlite:///{tmp_path / 'alerts.db'}"
        stack = await Stack(url, settings, clock).start()
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        await stack.stop()
