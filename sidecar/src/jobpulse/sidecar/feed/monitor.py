"""``/api/monitor/connections``: who is watching the live feed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from litestar import Controller, get
from litestar.di import NamedDependency

from jobpulse.sidecar.auth.roles import VIEWER, access
from jobpulse.sidecar.feed.hub import FeedHub


class ClientInfo(msgspec.Struct):
    """One live-feed client."""

    id: int
    remote: str
    connected_at: datetime
    subscription: dict[str, Any]
    queued_frames: int
    frames_sent: int
    frames_dropped: int
    resyncs: int


class Connections(msgspec.Struct):
    """Live-feed clients and feed counters."""

    count: int
    cursor: int
    messages_published: int
    resyncs_sent: int
    clients_dropped: int
    clients: list[ClientInfo]


class FeedMonitorController(Controller):
    """The live feed's clients and counters."""

    path = "/api/monitor"
    tags = ["monitor"]
    opt = access(VIEWER)

    @get("/connections", summary="Live-feed clients")
    async def connections(self, hub: NamedDependency[FeedHub]) -> Connections:
        clients = [msgspec.convert(client.describe(), ClientInfo) for client in hub.clients]
        return Connections(
            count=len(clients),
            cursor=hub.cursor,
            messages_published=hub.messages_published,
            resyncs_sent=hub.resyncs_sent,
            clients_dropped=hub.clients_dropped,
            clients=clients,
        )
