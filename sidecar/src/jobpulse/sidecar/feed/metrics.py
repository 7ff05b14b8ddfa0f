"""FeedCollector: the live feed's clients and traffic, read from the hub at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from jobpulse.sidecar.feed.hub import FeedClient, FeedHub
from jobpulse.sidecar.metrics.families import counter, gauge, histogram, labelled_counter


class _DroppedFrames:
    """Frames dropped over all clients, monotonic although clients come and go."""

    def __init__(self) -> None:
        self._gone = 0
        self._last: dict[int, int] = {}

    def total(self, clients: list[FeedClient]) -> int:
        current = {client.id: client.frames_dropped for client in clients}
        for client_id, dropped in self._last.items():
            if client_id not in current:
                self._gone += dropped
        self._last = current
        return self._gone + sum(current.values())


class FeedCollector(Collector):
    """``jobpulse_sidecar_feed_*``: clients, queued frames, messages, drops, resyncs by cause, failed
    handshakes by reason and the send delay by message type."""

    def __init__(self, hub: FeedHub) -> None:
        self.hub = hub
        self._dropped = _DroppedFrames()

    def collect(self) -> Iterator[Metric]:
        hub = self.hub
        clients = hub.clients
        yield gauge("jobpulse_sidecar_feed_clients", "Connected live-feed (WebSocket) clients.", len(clients))
        yield gauge(
            "jobpulse_sidecar_feed_queued_frames",
            "Frames waiting in live-feed client queues.",
            sum(len(client.queue) for client in clients),
        )
        yield gauge(
            "jobpulse_sidecar_feed_tick_seconds",
            "How long the live feed now collects changes after a flush (at most feed_tick_ms).",
            hub.current_tick_s,
        )
        yield counter(
            "jobpulse_sidecar_feed_messages_published", "Live-feed messages published.", hub.messages_published
        )
        yield counter(
            "jobpulse_sidecar_feed_frames_dropped",
            "Frames dropped from the queues of clients that fell behind (each is then resynced).",
            self._dropped.total(clients),
        )
        yield labelled_counter(
            "jobpulse_sidecar_feed_resyncs",
            "Resync messages (fresh snapshots) sent to clients, by cause: backlog (queue full), lag (oldest "
            "queued frame too old), cursor (resumed from a cursor the replay ring no longer holds).",
            "cause",
            hub.resyncs,
        )
        yield labelled_counter(
            "jobpulse_sidecar_feed_handshake_failures",
            "Live-feed connections that failed before their first frame, by reason.",
            "reason",
            hub.handshake_failures,
        )
        yield histogram(
            "jobpulse_sidecar_feed_send_delay_seconds",
            "Delay from ingest to a client's socket taking the frame, by message type: one observation per "
            "frame and message type in it, for the oldest message of that type.",
            ["type"],
            [([message_type], observed) for message_type, observed in sorted(hub.send_delay.items())],
        )
        yield counter(
            "jobpulse_sidecar_feed_clients_dropped",
            "Clients disconnected because their socket stopped accepting frames.",
            hub.clients_dropped,
        )
