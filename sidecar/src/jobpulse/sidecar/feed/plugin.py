"""The live feed feature: the hub that turns job changes into feed frames, ``/ws`` and the clients'
monitor route."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler
from prometheus_client.registry import Collector

from jobpulse.sidecar.feed.cursors import BusCursors
from jobpulse.sidecar.feed.hub import FeedHub
from jobpulse.sidecar.feed.metrics import FeedCollector
from jobpulse.sidecar.feed.monitor import FeedMonitorController
from jobpulse.sidecar.feed.socket import live_feed_route
from jobpulse.sidecar.guard.connections import FeedAdmission
from jobpulse.sidecar.plugin import Core, Feature


class FeedFeature(Feature):
    """The hub ticks while the app runs; readiness is whether it still does."""

    name = "feed"

    def __init__(self, core: Core) -> None:
        super().__init__(core)
        settings = core.settings
        self.hub = FeedHub(
            core.store,
            tick_s=settings.feed_tick_ms / 1000,
            replay_messages=settings.feed_replay_messages,
            queue_frames=settings.feed_client_queue_frames,
            max_lag_s=settings.feed_client_max_lag_s,
            send_timeout_s=settings.feed_send_timeout_s,
            progress_hz=settings.feed_progress_hz,
            frames_per_s=settings.feed_frames_per_s,
            ack_timeout_s=settings.control_ack_timeout_s,
            test_delay_s=settings.feed_test_delay_ms / 1000,
            # Replicas on a bus stamp each message with its bus entry's cursor, the same on every replica.
            cursors=BusCursors() if settings.broker_url else None,
        )
        self.admission = FeedAdmission(settings.feed_max_connections, settings.feed_max_connections_per_client)
        core.live.subscribe(self.hub.reconfigure)
        core.live.subscribe(self.admission.reconfigure)

    def route_handlers(self) -> list[ControllerRouterHandler]:
        return [live_feed_route(self.hub, self.core.errors, self.admission), FeedMonitorController]

    def dependencies(self) -> dict[str, object]:
        return {"hub": self.hub}

    def collectors(self) -> list[Collector]:
        return [FeedCollector(self.hub)]

    async def start(self) -> None:
        await self.hub.start()

    async def stop(self) -> None:
        await self.hub.stop()

    async def ready(self) -> str:
        return "ok" if self.hub.running else "feed not running"
