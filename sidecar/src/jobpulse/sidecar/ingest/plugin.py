"""The ingest feature: where job events come from. OTLP/HTTP requests are decoded and folded into the
store; the lost-job detector marks the jobs that fell silent."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler
from prometheus_client.registry import Collector

from jobpulse.sidecar.ingest.metrics import IngestCollector
from jobpulse.sidecar.ingest.monitor import IngestMonitorController
from jobpulse.sidecar.ingest.receiver import Ingestor, Publish, otlp_controller
from jobpulse.sidecar.lost_jobs import LostJobDetector
from jobpulse.sidecar.plugin import Core, Feature


class IngestFeature(Feature):
    """The OTLP receiver and the lost-job detector. Listed last of the features that touch jobs: the
    detector starts once the others run (and stops first), as it judges silence from the time it starts."""

    name = "ingest"

    def __init__(self, core: Core, publish: Publish | None = None) -> None:
        """``publish``: where requests' events and lost marks go when replicas share a bus (None: fold them
        here)."""
        super().__init__(core)
        settings = core.settings
        self.ingestor = Ingestor(core.store, settings.max_request_bytes, publish=publish)
        self.detector = LostJobDetector(
            core.store,
            settings.heartbeat_window_s,
            settings.lost_check_interval_s,
            settings.restart_grace_s,
            publish=publish,
        )
        core.live.subscribe(self.ingestor.reconfigure)
        core.live.subscribe(self.detector.reconfigure)

    def route_handlers(self) -> list[ControllerRouterHandler]:
        return [otlp_controller(self.ingestor), IngestMonitorController]

    def dependencies(self) -> dict[str, object]:
        return {"ingestor": self.ingestor}

    def collectors(self) -> list[Collector]:
        return [IngestCollector(self.ingestor)]

    async def start(self) -> None:
        await self.detector.start()

    async def stop(self) -> None:
        await self.detector.stop()
