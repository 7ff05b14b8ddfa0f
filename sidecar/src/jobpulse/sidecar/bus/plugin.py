"""The bus feature: with ``broker_url`` set, the Redis stream replicas share job events through."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client.registry import Collector

from jobpulse.sidecar.feed.cursors import BusCursors
from jobpulse.sidecar.feed.hub import FeedHub
from jobpulse.sidecar.plugin import Core, Feature

if TYPE_CHECKING:
    from jobpulse.sidecar.bus.redis_bus import RedisBus


class BusFeature(Feature):
    """Without a broker there is nothing to do: ingest folds at once, as one process always did.

    With one, it starts after history restored memory (the reader folds the retained stream on top of
    it) and before ingest, and is not ready until it has read the stream up to where it began.
    """

    name = "bus"

    def __init__(self, core: Core, hub: FeedHub) -> None:
        super().__init__(core)
        settings = core.settings
        self.bus: RedisBus | None = None
        if settings.broker_url and isinstance(hub.cursors, BusCursors):
            # Imported only with a broker: the Redis client is a tenth of a second of every start.
            from jobpulse.sidecar.bus.redis_bus import RedisBus

            self.bus = RedisBus(
                core.store,
                hub.cursors,
                settings.broker_url,
                settings.bus_stream,
                settings.bus_stream_maxlen,
                on_gap=hub.resync_all,
                on_caught_up=hub.replay_from_now,
            )

    def collectors(self) -> list[Collector]:
        if self.bus is None:
            return []
        from jobpulse.sidecar.bus.metrics import BusCollector

        return [BusCollector(self.bus)]

    async def start(self) -> None:
        if self.bus is not None:
            await self.bus.start()

    async def stop(self) -> None:
        if self.bus is not None:
            await self.bus.stop()

    async def ready(self) -> str | None:
        return self.bus.readiness() if self.bus is not None else None
