"""AuthService: tokens, tickets and the authenticator, started and stopped together."""

from __future__ import annotations

import logging
import time

from sqlalchemy.exc import SQLAlchemyError
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
    """What the auth routes and the access middleware work with.

    The authenticator always exists and rechecks tokens (nothing to read while none is in use), so that
    authentication turned on while the sidecar runs works from the next request.
    """

    def __init__(self, settings: Settings, engine: AsyncEngine) -> None:
        self.settings = settings
        self.enabled = settings.auth_on
        self.tokens = TokenRepository(engine)
        self.tickets = TicketBook(engine, settings.ws_ticket_ttl_s)
        self.authenticator = Authenticator(self.tokens, self.tickets, recheck_s=settings.auth_recheck_interval_s)
        self._started = False

    async def reconfigure(self, settings: Settings) -> None:
        """A new ticket lifetime applies to the next ticket, a new recheck interval from the next wait;
        whether authentication is on from the next request (the middleware is told separately), said in
        the log as at start."""
        self.tickets.ttl_ns = int(settings.ws_ticket_ttl_s * 1e9)
        self.authenticator.recheck_s = settings.auth_recheck_interval_s
        before, self.settings, self.enabled = self.settings, settings, settings.auth_on
        if not self._started:
            return  # Runtime changes stored earlier, applied before the start, which says it all.
        if settings.insecure_no_auth and not before.insecure_no_auth:
            self._warn_insecure()
        if self.enabled and not before.auth_on:
            await self._announce_tokens()
        elif before.auth_on and not self.enabled:
            log.warning("authentication turned off: every caller is an admin from now on")

    async def start(self) -> None:
        """Start rechecking tokens; say at every start how the sidecar is protected (or is not)."""
        if self.settings.insecure_no_auth:
            self._warn_insecure()
        await self.authenticator.start()
        self._started = True
        if self.enabled:
            await self._announce_tokens()

    def _warn_insecure(self) -> None:
        log.warning(
            "authentication is OFF (insecure_no_auth) while listening on %s: anyone who can reach this port "
            "can read, pause and cancel every job and send forged telemetry and alerts",
            self.settings.host,
        )

    async def _announce_tokens(self) -> None:
        try:
            usable = await self.tokens.count_usable()
        except SQLAlchemyError as error:
            log.warning("authentication is on; cannot count the usable tokens now: %s", type(error).__name__)
            return
        if usable:
            log.info("authentication is on: %d usable token(s)", usable)
        else:
            log.warning(
                "authentication is on and no usable token exists: every request but /healthz, /readyz and /metrics "
                "is refused until one is created (`%s`; jobs need an ingest token, see docs/security.md)",
                TOKEN_HINT,
            )

    async def stop(self) -> None:
        await self.authenticator.stop()

    async def check(self) -> str:
        """Readiness: with authentication on, revocations are being seen."""
        return await self.authenticator.check() if self.enabled else "ok"

    async def issue_ticket(self, principal: Principal) -> tuple[str, int]:
        """A WebSocket ticket for ``principal`` and when it expires (ns).

        With authentication off the feed checks no ticket: one is still answered (not stored), so a
        client need not tell the two cases apart.
        """
        if not self.enabled or principal.token_id is None:
            return new_ticket(), time.time_ns() + self.tickets.ttl_ns
        return await self.authenticator.issue_ticket(principal)
