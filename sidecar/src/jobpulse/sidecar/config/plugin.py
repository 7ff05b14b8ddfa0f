"""ConfigPlugin: live configuration's part of the application (routes, start and stop, readiness detail)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.config.app import AppConfig
from litestar.di import Provide
from litestar.plugins import InitPlugin

from jobpulse.sidecar.config.api import ConfigController
from jobpulse.sidecar.config.service import ConfigService


class ConfigPlugin(InitPlugin):
    """Serves and runs a ConfigService. It starts after the parts listed before it (the database is
    migrated by then) and stops before them."""

    def __init__(self, service: ConfigService) -> None:
        self.service = service

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        service = self.service
        app_config.route_handlers.append(ConfigController)
        app_config.dependencies["config_service"] = Provide(lambda: service, use_cache=True, sync_to_thread=False)
        app_config.lifespan.append(self._lifespan)
        details = app_config.state.get("readiness_details")
        if details is not None:
            details["config"] = service.readiness_detail
        return app_config

    @asynccontextmanager
    async def _lifespan(self, app: Litestar) -> AsyncIterator[None]:
        await self.service.start()
        try:
            yield
        finally:
            await self.service.stop()
