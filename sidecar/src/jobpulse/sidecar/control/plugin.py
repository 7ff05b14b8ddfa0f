"""The control feature: operators pause, resume and cancel jobs; jobs long-poll for their commands."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

from jobpulse.sidecar.control.api import ControlController
from jobpulse.sidecar.control.service import ControlService
from jobpulse.sidecar.history.service import History
from jobpulse.sidecar.plugin import Core, Feature


class ControlFeature(Feature):
    """Commands are stored in the database and looked up against jobs in memory or in ``history``."""

    name = "control"

    def __init__(self, core: Core, history: History) -> None:
        super().__init__(core)
        self.service = ControlService(core.store, core.database, history.get_state)
        core.live.subscribe(self.service.reconfigure)

    def route_handlers(self) -> list[ControllerRouterHandler]:
        return [ControlController]

    def dependencies(self) -> dict[str, object]:
        return {"control": self.service}

    async def stop(self) -> None:
        await self.service.stop()

    def shutting_down(self) -> None:
        self.service.close()
