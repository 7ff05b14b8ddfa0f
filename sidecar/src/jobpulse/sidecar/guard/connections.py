"""Admission to the live feed: caps on open WebSocket connections, in total and per client."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jobpulse.sidecar.settings import Settings

TOTAL = "feed_max_connections"
PER_CLIENT = "feed_max_connections_per_client"


class FeedAdmission:
    """Counts open feed connections by client key; refuses one past either cap.

    ``enter`` and ``leave`` do no I/O, so on the event loop a check and its count cannot be split by
    another handshake: the caps are exact, not approximate.
    """

    def __init__(self, max_connections: int, max_per_client: int) -> None:
        self.max_connections = max_connections
        self.max_per_client = max_per_client
        self.open = 0
        self._by_client: dict[str, int] = {}
        self.refused: dict[str, int] = {TOTAL: 0, PER_CLIENT: 0}
        """Handshakes refused, by the setting that refused them."""

    def reconfigure(self, settings: Settings) -> None:
        """New caps apply to the next handshake; connections already open stay open."""
        self.max_connections = settings.feed_max_connections
        self.max_per_client = settings.feed_max_connections_per_client

    def enter(self, key: str) -> str | None:
        """Count a new connection of ``key``; or, past a cap, the reason it is refused (the setting named)."""
        if self.open >= self.max_connections:
            self.refused[TOTAL] += 1
            return f"too many feed connections: the sidecar's limit is {self.max_connections} ({TOTAL})"
        held = self._by_client.get(key, 0)
        if held >= self.max_per_client:
            self.refused[PER_CLIENT] += 1
            return f"too many feed connections from this client: the limit is {self.max_per_client} ({PER_CLIENT})"
        self.open += 1
        self._by_client[key] = held + 1
        return None

    def leave(self, key: str) -> None:
        """Release a connection counted by ``enter``."""
        self.open -= 1
        held = self._by_client[key] - 1
        if held:
            self._by_client[key] = held
        else:
            del self._by_client[key]
