"""Alerting: the repository, delivery and engine, built from settings and started/stopped together.

New settings are taken while it runs: delivery first (channels), then the engine (rules, routes);
turning alerting off or on stops or starts it whole.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from jobpulse.sidecar.alerting.config import AlertingSettings
from jobpulse.sidecar.alerting.delivery import Channel, Delivery
from jobpulse.sidecar.alerting.engine import AlertEngine
from jobpulse.sidecar.alerting.host import HostSampler
from jobpulse.sidecar.alerting.repository import AlertRepository
from jobpulse.sidecar.feed.hub import FeedHub
from jobpulse.sidecar.ingest.receiver import IngestStats
from jobpulse.sidecar.schedules.book import ScheduleBook
from jobpulse.sidecar.store import JobStore


class Alerting:
    """Owns alerting's parts. Start it after the history database is migrated; stop it before."""

    def __init__(
        self,
        settings: AlertingSettings,
        store: JobStore,
        database: AsyncEngine,
        hub: FeedHub,
        ingest: IngestStats,
        schedules: ScheduleBook,
    ) -> None:
        self.settings = settings
        self.repository = AlertRepository(database)
        self.delivery = Delivery([Channel(config) for config in settings.channels], settings.delivery, self.repository)
        self.engine = AlertEngine(
            settings,
            store,
            self.repository,
            self.delivery,
            hub=hub,
            ingest=ingest,
            schedules=schedules,
            sampler=HostSampler(settings.rules.resource_pressure.disk_path),
        )
        # Between the feature's start and stop; only then may a change start or stop the parts.
        self._running = False

    async def start(self) -> None:
        self._running = True
        if self.settings.enabled:
            await self._start_parts()

    async def stop(self) -> None:
        if self._running and self.settings.enabled:
            await self._stop_parts()
        self._running = False

    async def _start_parts(self) -> None:
        await self.repository.start()
        await self.delivery.start()
        await self.engine.start()

    async def _stop_parts(self) -> None:
        await self.engine.stop()
        await self.delivery.stop()
        await self.repository.stop()

    async def reconfigure(self, settings: AlertingSettings) -> None:
        """Apply new alerting settings without a restart. Before start and after stop only the settings
        change: what runs follows them at the next start."""
        was_enabled = self.settings.enabled
        self.settings = settings
        self.delivery.reconfigure(settings.channels, settings.delivery)
        self.engine.reconfigure(settings)
        if not self._running or settings.enabled == was_enabled:
            return
        await (self._start_parts() if settings.enabled else self._stop_parts())

    async def check(self) -> str:
        """Readiness: the engine ticks, the channels have workers and alert writes succeed."""
        if not self.settings.enabled:
            return "ok"
        workers_up = self.delivery.running or not self.delivery.channels
        if not self.engine.running or not workers_up:
            return "alerting not running"
        if self.repository.last_error is not None:
            return f"alert writes failing: {self.repository.last_error}"
        return "ok"
