"""AuthService: tokens, tickets and (with authentication on) the authenticator, started and stopped together."""

from __future__ import annotations

import logging
import time

from sqlalchemy.ext.asyncio import AsyncEngine

from jobpulse.sidecar.auth.authenticator import Authenticator
from jobpulse.sidecar.auth.credentials import new_ticket
from jobpulse.sidecar.auth.exposure import TOKEN_HINT
from jobpulse.sidecar.auth.principal import Principal
from jobpulse.sidecar.auth.tickets import TicketBook
from jobpulse.sidecar.auth.tokens import TokenRepository
from jobpulse.sidecar.settings import Settings

log = logging.getLogger("jobpulse.sidecar.auth")


class AuthService:
    """What the auth routes and the access middleware work with."""

    def __init__(self, settings: Settings, engine: AsyncEngine) -> None:
        self.settings = settings
        self.enabled = settings.auth_on
        self.tokens = TokenRepository(engine)
        self.tickets = TicketBook(engine, settings.ws_ticket_ttl_s)
        self.authenticator = (
            Authenticator(self.tokens, self.tickets, recheck_s=settings.auth_recheck_interval_s)
            if self.enabled
            else None
        )

    def reconfigure(self, settings: Settings) -> None:
        """A new ticket lifetime applies to the next ticket, a new recheck interval from the next wait.
        Whether authentication is on applies only at start."""
        self.tickets.ttl_ns = int(settings.ws_ticket_ttl_s * 1e9)
        if self.authenticator is not None:
            self.authenticator.recheck_s = settings.auth_recheck_interval_s

    async def start(self) -> None:
        """Start rechecking tokens; say at every start how the sidecar is protected (or is not)."""
        if self.settings.insecure_no_auth:
            log.warning(
                "authentication is OFF (insecure_no_auth) while listening on %s: anyone who can reach this port "
                "can read, pause and cancel every job and send forged telemetry and alerts",
                self.settings.host,
            )
        if self.authenticator is None:
            return
        await self.authenticator.start()
        usable = await self.tokens.count_usable()
        if usable:
            log.info("authentication is on: %d usable token(s)", usable)
        else:
            log.warning(
                "authentication is on and no usable token exists: every request but /healthz, /readyz and /metrics "
                "is refused until one is created (`%s`; jobs need an ingest token, see docs/security.md)",
                TOKEN_HINT,
            )

    async def stop(self) -> None:
        if self.authenticator is not None:
            await self.authenticator.stop()

    async def check(self) -> str:
        """Readiness: with authentication on, revocations are being seen."""
        return "ok" if self.authenticator is None else await self.authenticator.check()

    async def issue_ticket(self, principal: Principal) -> tuple[str, int]:
        """A WebSocket ticket for ``principal`` and when it expires (ns).

        With authentication off the feed checks no ticket: one is still answered (not stored), so a
        client need not tell the two cases apart.
        """
        if self.authenticator is None or principal.token_id is None:
            return new_ticket(), time.time_ns() + self.tickets.ttl_ns
        return await self.authenticator.issue_ticket(principal)
