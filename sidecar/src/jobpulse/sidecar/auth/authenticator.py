"""Authenticator: a presented token or ticket in, a Principal out, in microseconds once a token is known.

- A token is verified against its stored scrypt hash once per process; the verified token is then
  cached under the SHA-256 of the text presented, so a request costs one SHA-256 and a dict lookup.
  Concurrent first uses of one token share one verification.
- Every ``recheck_s`` one query rereads every cached token (and every token with an open WebSocket):
  a token revoked or expired, through any replica sharing the database, stops working here within
  that time, and its open connections are told to close.
- Refusals are remembered until the next recheck (up to a bound), so a sender stuck with a revoked
  token does not cost a database read per request.
- When each token was last used is written in batches (every ``LAST_USED_INTERVAL_S`` and at stop),
  never once per request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from jobpulse.sidecar.auth.credentials import fingerprint, secret_matches, split_token
from jobpulse.sidecar.auth.principal import Principal
from jobpulse.sidecar.auth.tickets import TicketBook
from jobpulse.sidecar.auth.tokens import TokenRecord, TokenRepository
from jobpulse.sidecar.tasks import BackgroundTasks
from jobpulse.sidecar.timestamps import to_datetime

log = logging.getLogger("jobpulse.sidecar.auth")

LAST_USED_INTERVAL_S = 15.0
# Distinct refused tokens remembered between two rechecks; more are refused without being remembered.
_MAX_REFUSED = 10_000


class InvalidCredentials(Exception):
    """A token or ticket that does not authenticate; the message says why, without echoing it."""


class _Watch:
    __slots__ = ("connections", "ended")

    def __init__(self) -> None:
        self.ended = asyncio.Event()
        self.connections = 0


class Authenticator:
    """Verifies tokens and tickets; tells open connections when their token stops being valid."""

    def __init__(
        self,
        tokens: TokenRepository,
        tickets: TicketBook,
        *,
        recheck_s: float,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.tokens = tokens
        self.tickets = tickets
        self.recheck_s = recheck_s
        self.clock_ns = clock_ns
        self._verified: dict[str, TokenRecord] = {}
        self._verifying: dict[str, asyncio.Task[TokenRecord]] = {}
        self._refused: dict[str, str] = {}
        self._used: dict[str, int] = {}
        self._watches: dict[str, _Watch] = {}
        self._last_written = time.monotonic()
        self._recheck_error: str | None = None
        self._tasks = BackgroundTasks()

    # ---- verifying ----------------------------------------------------------------------------

    def knows(self, token: str) -> bool:
        """Whether ``token`` was verified by this process and not found revoked since: checking it again
        costs no database read and no hash."""
        return fingerprint(token) in self._verified

    async def authenticate(self, token: str) -> Principal:
        """The principal ``token`` stands for; InvalidCredentials when it is unknown, revoked or expired."""
        key = fingerprint(token)
        record = self._verified.get(key)
        if record is None:
            record = await self._verify(key, token)
        now = self.clock_ns()
        if record.expired(now):
            self._verified.pop(key, None)
            raise InvalidCredentials(_expired(record))
        self._used[record.id] = now
        return record.principal()

    async def _verify(self, key: str, token: str) -> TokenRecord:
        refused = self._refused.get(key)
        if refused is not None:
            raise InvalidCredentials(refused)
        task = self._verifying.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._check(token))
            self._verifying[key] = task
            task.add_done_callback(lambda _: self._verifying.pop(key, None))
        try:
            record = await asyncio.shield(task)
        except InvalidCredentials as error:
            if len(self._refused) < _MAX_REFUSED:
                self._refused[key] = str(error)
            raise
        self._verified[key] = record
        return record

    async def _check(self, token: str) -> TokenRecord:
        parts = split_token(token)
        if parts is None:
            raise InvalidCredentials("not a jobpulse token (they read jp_<id>_<secret>)")
        stored = await self.tokens.load(parts)
        # The hash is slow on purpose: off the event loop.
        if stored is None or not await asyncio.to_thread(secret_matches, parts.secret, stored.secret_hash):
            raise InvalidCredentials("unknown token")
        if stored.revoked:
            raise InvalidCredentials(f"token {stored.record.name!r} has been revoked")
        if stored.record.expired(self.clock_ns()):
            raise InvalidCredentials(_expired(stored.record))
        return stored.record

    # ---- WebSocket tickets --------------------------------------------------------------------

    async def issue_ticket(self, principal: Principal) -> tuple[str, int]:
        """A single-use ticket acting as ``principal``'s token, and when it expires (ns)."""
        if principal.token_id is None:
            raise ValueError("tickets are issued for tokens")
        return await self.tickets.issue(principal.token_id)

    async def redeem_ticket(self, ticket: str) -> Principal:
        """The principal a ticket was issued for; InvalidCredentials when it is unknown, used or expired."""
        redeemed = await self.tickets.redeem(ticket)
        if redeemed is None:
            raise InvalidCredentials("unknown or already used ticket: get a new one from POST /api/auth/ws-ticket")
        token_id, fresh = redeemed
        if not fresh:
            raise InvalidCredentials(
                "expired ticket: get a new one from POST /api/auth/ws-ticket just before connecting"
            )
        record = (await self.tokens.usable([token_id])).get(token_id)
        if record is None:
            raise InvalidCredentials("the token this ticket was issued for is revoked or expired")
        self._used[record.id] = self.clock_ns()
        return record.principal()

    # ---- open connections ---------------------------------------------------------------------

    def watch(self, token_id: str) -> asyncio.Event:
        """An event set when ``token_id`` is revoked or expires; call :meth:`unwatch` when done with it."""
        watch = self._watches.get(token_id)
        if watch is None:
            watch = self._watches[token_id] = _Watch()
        watch.connections += 1
        return watch.ended

    def unwatch(self, token_id: str) -> None:
        watch = self._watches.get(token_id)
        if watch is not None:
            watch.connections -= 1
            if watch.connections <= 0:
                del self._watches[token_id]

    # ---- rechecking ---------------------------------------------------------------------------

    async def recheck(self) -> None:
        """Drop what stopped being valid (on any replica), end its connections, write last-used times."""
        self._refused.clear()
        ids = {record.id for record in self._verified.values()} | self._watches.keys()
        if ids:
            usable = await self.tokens.usable(ids)
            gone = ids - usable.keys()
            if gone:
                self._verified = {key: record for key, record in self._verified.items() if record.id not in gone}
                for token_id in gone:
                    watch = self._watches.pop(token_id, None)
                    if watch is not None:
                        watch.ended.set()
        if time.monotonic() - self._last_written >= LAST_USED_INTERVAL_S:
            await self.write_last_used()

    async def write_last_used(self) -> None:
        used, self._used = self._used, {}
        self._last_written = time.monotonic()
        try:
            await self.tokens.record_use(used)
        except Exception:
            # Not worth losing: merged back for the next attempt, newer uses winning.
            self._used = used | self._used
            raise

    async def start(self) -> None:
        self._tasks.retrying(
            lambda: self.recheck_s,
            self.recheck,
            "auth-recheck",
            failed=self._recheck_failed,
            recovered=self._recheck_recovered,
        )

    def _recheck_failed(self, error: Exception, first: bool) -> None:
        self._recheck_error = f"{type(error).__name__}: {error}"
        if first:
            log.error("cannot recheck tokens (revocations are not seen until it works again): %s", self._recheck_error)

    def _recheck_recovered(self) -> None:
        self._recheck_error = None
        log.info("token rechecks work again")

    async def check(self) -> str:
        """Readiness: revocations are being seen."""
        if not self._tasks.running:
            return "token recheck not running"
        return "ok" if self._recheck_error is None else f"token recheck failing: {self._recheck_error}"

    async def stop(self) -> None:
        await self._tasks.cancel()
        try:
            await self.write_last_used()
        except Exception:
            log.exception("could not record when tokens were last used")


def _expired(record: TokenRecord) -> str:
    expired_at = to_datetime(record.expires_ns)
    return f"token {record.name!r} expired at {expired_at.isoformat() if expired_at else 'an unknown time'}"
