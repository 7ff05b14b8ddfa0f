"""Single-use WebSocket tickets, kept in the database so that any replica can redeem them.

A browser cannot set an ``Authorization`` header on a WebSocket handshake, and a long-lived token must
never go in a URL (URLs end up in logs and browser history). So a browser asks for a ticket with its
token (``POST /api/auth/ws-ticket``) and connects with ``/ws?ticket=...``: the ticket lives a few
seconds, works once, and only its SHA-256 is stored. Redeeming deletes the row in one statement, so
two connections racing with the same ticket cannot both succeed, on one replica or several.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from jobpulse.sidecar.auth.credentials import fingerprint, new_ticket
from jobpulse.sidecar.auth.tables import ws_tickets


class TicketBook:
    """Issues tickets for a token and redeems each at most once."""

    def __init__(self, engine: AsyncEngine, ttl_s: float, clock_ns: Callable[[], int] = time.time_ns) -> None:
        self.engine = engine
        self.ttl_ns = int(ttl_s * 1e9)
        self.clock_ns = clock_ns

    async def issue(self, token_id: str) -> tuple[str, int]:
        """A new ticket for ``token_id`` and when it expires (ns); expired tickets are cleared on the way."""
        ticket = new_ticket()
        now = self.clock_ns()
        expires_ns = now + self.ttl_ns
        async with self.engine.begin() as connection:
            await connection.execute(delete(ws_tickets).where(ws_tickets.c.expires_ns <= now))
            await connection.execute(
                ws_tickets.insert().values(ticket_hash=fingerprint(ticket), token_id=token_id, expires_ns=expires_ns)
            )
        return ticket, expires_ns

    async def redeem(self, ticket: str) -> tuple[str, bool] | None:
        """Use up ``ticket``: the token it was issued for and whether it is still fresh, or None when
        it is unknown or already used."""
        statement = (
            delete(ws_tickets)
            .where(ws_tickets.c.ticket_hash == fingerprint(ticket))
            .returning(ws_tickets.c.token_id, ws_tickets.c.expires_ns)
        )
        async with self.engine.begin() as connection:
            row = (await connection.execute(statement)).first()
        if row is None:
            return None
        return row.token_id, row.expires_ns > self.clock_ns()
