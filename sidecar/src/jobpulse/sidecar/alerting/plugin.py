"""The alerting feature: rules over job state, alerts with a lifecycle, notifications, and their routes."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler
from prometheus_client.registry import Collector

from jobpulse.sidecar.alerting.api import AlertsController, NotificationsController
from jobpulse.sidecar.alerting.metrics import AlertingCollector
from jobpulse.sidecar.alerting.retention import expire_alerts
from jobpulse.sidecar.alerting.service import Alerting
from jobpulse.sidecar.alerting.webhook import AlertmanagerController
from jobpulse.sidecar.feed.hub import FeedHub
from jobpulse.sidecar.ingest.receiver import IngestStats
from jobpulse.sidecar.plugin import Core, Feature
from jobpulse.sidecar.schedules.book import ScheduleBook


class AlertingFeature(Feature):
    """Alerts are stored in the database and published on the live feed (``hub``); the fleet rules also
    watch the feed's delays and failed connections, ingest's queue time (``ingest``) and the scheduled
    job names and types (``schedules``)."""

    name = "alerting"
    retention_parts = (expire_alerts,)

    def __init__(self, core: Core, hub: FeedHub, ingest: IngestStats, schedules: ScheduleBook) -> None:
        super().__init__(core)
        self.alerting = Alerting(core.settings.alerting, core.store, core.database, hub, ingest, schedules)
        core.live.subscribe(lambda settings: self.alerting.reconfigure(settings.alerting))

    def route_handlers(self) -> list[ControllerRouterHandler]:
        return [AlertsController, NotificationsController, AlertmanagerController]

    def dependencies(self) -> dict[str, object]:
        return {"alert_engine": self.alerting.engine}

    def collectors(self) -> list[Collector]:
        return [AlertingCollector(self.alerting.engine)]

    async def start(self) -> None:
        await self.alerting.start()

    async def stop(self) -> None:
        await self.alerting.stop()

    async def ready(self) -> str:
        return await self.alerting.check()
