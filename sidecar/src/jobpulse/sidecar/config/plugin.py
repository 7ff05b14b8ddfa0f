"""The config feature: the settings in force, changed over REST, on SIGHUP and when the file changes."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

from jobpulse.sidecar.config.api import ConfigController
from jobpulse.sidecar.config.service import ConfigService
from jobpulse.sidecar.plugin import Core, Feature


class ConfigFeature(Feature):
    """Replaces the core's live settings; the features that copied a setting take each change from there.

    Listed right after storage and auth: its start applies the runtime changes stored in the database
    (the tables are migrated by then) before the features it reconfigures start. It stops after them: a
    change that comes in between finds them stopped, and each keeps it for a start that does not come.
    """

    name = "config"

    def __init__(self, core: Core) -> None:
        super().__init__(core)
        self.service = ConfigService(core.live, core.sources, core.database)

    def route_handlers(self) -> list[ControllerRouterHandler]:
        return [ConfigController]

    def dependencies(self) -> dict[str, object]:
        return {"config_service": self.service}

    async def start(self) -> None:
        await self.service.start()

    async def stop(self) -> None:
        await self.service.stop()

    def readiness_detail(self) -> str | None:
        return self.service.readiness_detail()
