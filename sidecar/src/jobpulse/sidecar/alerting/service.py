"""Alerting: the repository, delivery and engine, built from settings and started/stopped together."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from jobpulse.sidecar.alerting.config import AlertingSettings
from jobpulse.sidecar.alerting.delivery import Channel, Delivery
from jobpulse.sidecar.alerting.engine import AlertEngine
from jobpulse.sidecar.alerting.host import HostSampler
from jobpulse.sidecar.alerting.repository import AlertRepository
from jobpulse.sidecar.feed.hub import FeedHub
from jobpulse.sidecar.ingest.receiver import IngestStats
from jobpulse.sidecar.store import JobStore


class Alerting:
    """Owns alerting's parts. Start it after the history database is migrated; stop it before."""

    def __init__(
        self, settings: AlertingSettings, store: JobStore, database: AsyncEngine, hub: FeedHub, ingest: IngestStats
    ) -> None:
        self.settings = settings
        self.repository = AlertRepository(database)
        self.delivery = Delivery([Channel(config) for config in settings.channels], settings.delivery, self.repository)
        pressure = settings.rules.resource_pressure
        self.engine = AlertEngine(
            settings,
            store,
            self.repository,
            self.delivery,
            hub=hub,
            ingest=ingest,
            sampler=HostSampler(pressure.disk_path) if pressure.enabled else None,
        )

    async def start(self) -> None:
        if not self.settings.enabled:
            return
        await self.repository.start()
        await self.delivery.start()
        await self.engine.start()

    async def stop(self) -> None:
        if not self.settings.enabled:
            return
        await self.engine.stop()
        await self.delivery.stop()
        await self.repository.stop()

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
