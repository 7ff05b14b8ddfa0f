"""The control feature: operators pause, resume and cancel jobs; jobs long-poll for their commands."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler
from prometheus_client.registry import Collector

from jobpulse.sidecar.control.api import ControlController
from jobpulse.sidecar.control.metrics import ControlCollector
from jobpulse.sidecar.control.notify import command_notices
from jobpulse.sidecar.control.retention import expire_commands
from jobpulse.sidecar.control.service import ControlService
from jobpulse.sidecar.history.service import History
from jobpulse.sidecar.plugin import Core, Feature


class ControlFeature(Feature):
    """Commands are stored in the database and looked up against jobs in memory or in ``history``."""

    name = "control"
    retention_parts = (expire_commands,)

    def __init__(self, core: Core, history: History) -> None:
        super().__init__(core)
        self.service = ControlService(
            core.store,
            core.database,
            history.get_state,
            notices=command_notices(core.database),
            db_poll_interval_s=core.settings.control_db_poll_interval_s,
        )
        core.live.subscribe(self.service.reconfigure)

    def route_handlers(self) -> list[ControllerRouterHandler]:
        return [ControlController]

    def dependencies(self) -> dict[str, object]:
        return {"control": self.service}

    def collectors(self) -> list[Collector]:
        return [ControlCollector(self.service)]

    async def start(self) -> None:
        await self.service.start()

    async def stop(self) -> None:
        await self.service.stop()

    def readiness_detail(self) -> str | None:
        return self.service.notices.detail()

    def shutting_down(self) -> None:
        self.service.close()
