"""The metrics feature: ``GET /metrics`` over the job metrics, the sidecar's own figures and the
collector of every other feature."""

from __future__ import annotations

from litestar.config.app import AppConfig
from litestar.types import ControllerRouterHandler

from jobpulse.sidecar.metrics.endpoint import metrics_route
from jobpulse.sidecar.metrics.exposition import SidecarMetrics
from jobpulse.sidecar.plugin import Core, Feature, features_in


class MetricsFeature(Feature):
    """Serves the exposition; the fold-lag probe runs while the app does."""

    name = "metrics"

    def __init__(self, core: Core) -> None:
        super().__init__(core)
        self.metrics = SidecarMetrics(core.store, errors=core.errors)

    def route_handlers(self) -> list[ControllerRouterHandler]:
        return [metrics_route(self.metrics)]

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        for feature in features_in(app_config.plugins):
            for collector in feature.collectors():
                self.metrics.register(collector)
        return super().on_app_init(app_config)

    async def start(self) -> None:
        await self.metrics.probe.start()

    async def stop(self) -> None:
        await self.metrics.probe.stop()
