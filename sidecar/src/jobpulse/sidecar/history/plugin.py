"""The history feature: the durable record of every job, the dead-letter route, and the expiry of old
jobs and set-aside rows."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler
from prometheus_client.registry import Collector

from jobpulse.sidecar.history.api import DeadLettersController
from jobpulse.sidecar.history.metrics import HistoryCollector
from jobpulse.sidecar.history.retention import expire_dead_letters, sweep_jobs
from jobpulse.sidecar.history.service import History
from jobpulse.sidecar.plugin import Core, Feature


class HistoryFeature(Feature):
    """Starts right after storage: memory is restored from history before anything else runs."""

    name = "history"
    retention_parts = (sweep_jobs, expire_dead_letters)

    def __init__(self, core: Core) -> None:
        super().__init__(core)
        settings = core.settings
        self.service = History(
            core.database,
            core.store,
            flush_interval_s=settings.history_flush_interval_s,
            max_pending_lines=settings.history_max_pending_lines,
            process_mode=settings.history_writer_process,
        )
        core.live.subscribe(self.service.reconfigure)

    def route_handlers(self) -> list[ControllerRouterHandler]:
        return [DeadLettersController]

    def dependencies(self) -> dict[str, object]:
        return {"history": self.service}

    def collectors(self) -> list[Collector]:
        return [HistoryCollector(self.service.writer)]

    async def start(self) -> None:
        await self.service.start()

    async def stop(self) -> None:
        await self.service.stop()

    async def ready(self) -> str:
        return await self.service.check()

    def readiness_detail(self) -> str | None:
        return self.service.readiness_detail()
