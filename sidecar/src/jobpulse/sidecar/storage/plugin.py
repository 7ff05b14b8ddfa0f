"""The storage feature: the one database every feature keeps its rows in. Migrated before any other
feature starts, swept while the app runs, closed after every other feature has stopped."""

from __future__ import annotations

from litestar.config.app import AppConfig

from jobpulse.sidecar.plugin import Core, Feature, features_in, retention_parts
from jobpulse.sidecar.settings import Settings
from jobpulse.sidecar.storage.migrate import migrate
from jobpulse.sidecar.storage.retention import RetentionSweeper


class StorageFeature(Feature):
    """Runs the retention sweep over the parts every feature of the app declares."""

    name = "storage"

    def __init__(self, core: Core) -> None:
        super().__init__(core)
        settings = core.settings
        self.sweeper = RetentionSweeper(
            core.database, settings.retention_policy(), interval_s=settings.retention_sweep_interval_s
        )
        core.live.subscribe(self._reconfigure)

    def _reconfigure(self, settings: Settings) -> None:
        # The policy applies from the next sweep, the interval from the next wait.
        self.sweeper.policy = settings.retention_policy()
        self.sweeper.interval_s = settings.retention_sweep_interval_s

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        for part in retention_parts(features_in(app_config.plugins)):
            self.sweeper.register(part)
        return super().on_app_init(app_config)

    async def start(self) -> None:
        await migrate(self.core.database)
        await self.sweeper.start()

    async def stop(self) -> None:
        await self.sweeper.stop()
        await self.core.database.dispose()
