"""The schedules feature: configured and learned schedules, the last run of each, and their route."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

from jobpulse.sidecar.plugin import Core, Feature
from jobpulse.sidecar.schedules.api import SchedulesController
from jobpulse.sidecar.schedules.book import ScheduleBook
from jobpulse.sidecar.schedules.repository import ScheduleRepository


class SchedulesFeature(Feature):
    """Starts after history (its last runs are read from there) and before alerting, which judges them."""

    name = "schedules"

    def __init__(self, core: Core) -> None:
        super().__init__(core)
        self.book = ScheduleBook(core.settings.schedules, core.store, ScheduleRepository(core.database))
        core.live.subscribe(lambda settings: self.book.reconfigure(settings.schedules))

    def route_handlers(self) -> list[ControllerRouterHandler]:
        return [SchedulesController]

    def dependencies(self) -> dict[str, object]:
        return {"schedule_book": self.book}

    async def start(self) -> None:
        await self.book.start()

    async def stop(self) -> None:
        await self.book.stop()
