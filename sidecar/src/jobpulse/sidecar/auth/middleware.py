"""AccessMiddleware: every request and WebSocket handshake is authenticated and checked against the
roles its route declares, before the route sees it.

- Open routes (and CORS preflights) pass without a look at any credential.
- With authentication off every caller is an admin, named by ``X-JobPulse-User`` if it sends one.
  Whether it is on changes while the sidecar runs (`require_tokens`): from the next request on; a
  WebSocket accepted while it was off is closed with 4401 once it is turned on.
- Otherwise ``Authorization: Bearer <token>``, or for a WebSocket ``?ticket=`` from
  ``POST /api/auth/ws-ticket``. A missing or invalid credential is a 401 with ``WWW-Authenticate:
  Bearer``, a role that does not suffice a 403 naming the role needed, in the project's JSON error
  shape. A WebSocket handshake is accepted and at once closed with 4401 or 4403 (the HTTP status
  plus 4000) and the reason, so that a browser, which never sees a refused handshake's status, can
  tell "get a new ticket" from "not allowed"; no job data is sent first.
- Before it checks an HTTP request's credential that is not a token it has verified already (none,
  a wrong one, a new one), it hands the request to ``throttle``, which counts it against the client's
  address and raises the 429 past that budget: refusals count too, and a flood of guessed tokens
  costs no database reads and hashes past it.
- The principal goes to ``scope["user"]`` (``request.user``), its token id to ``scope["auth"]``.
- A WebSocket whose token is revoked or expires is closed with 4401 within the authenticator's
  recheck interval; nothing is sent on it after that. One accepted without a credential is closed the
  same way at once when authentication is turned on.

Checking here rather than in a guard answers a refused OTLP export before its body is read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from litestar.enums import ScopeType
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException, ServiceUnavailableException
from litestar.handlers import BaseRouteHandler
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from sqlalchemy.exc import SQLAlchemyError

from jobpulse.sidecar.auth.authenticator import Authenticator, InvalidCredentials
from jobpulse.sidecar.auth.principal import USER_HEADER, Principal
from jobpulse.sidecar.auth.roles import ADMIN, METRICS, OPEN, VIEWER, declared_roles, describe

log = logging.getLogger("jobpulse.sidecar.auth")

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403

_CHALLENGE = 'Bearer realm="jobpulse"'
_MISSING = "missing credentials: send Authorization: Bearer <token>"
_MISSING_SOCKET = (
    "missing credentials: send Authorization: Bearer <token>, or connect with ?ticket= from POST /api/auth/ws-ticket"
)
_NOW_REQUIRED = "authentication is now required: reconnect with a token or a ticket"
_UNCHECKABLE = "cannot check the token now: the token database does not answer; try again shortly"
# RFC 6455 "try again later", for a handshake whose token cannot be checked now.
_CLOSE_TRY_AGAIN = 1013
_AUTHORIZATION = b"authorization"
_USER = USER_HEADER.encode()
# RFC 6455: a close frame's reason is at most 123 bytes.
_MAX_REASON_BYTES = 123


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def _reason(text: str) -> str:
    return text.encode()[:_MAX_REASON_BYTES].decode(errors="ignore")


class AccessMiddleware(ASGIMiddleware):
    """Authentication and role checks for HTTP routes and WebSockets (see the module docstring)."""

    scopes = (ScopeType.HTTP, ScopeType.WEBSOCKET)

    def __init__(
        self,
        authenticator: Authenticator,
        *,
        enabled: bool,
        metrics_require_token: bool,
        throttle: Callable[[Scope], Awaitable[None]] | None = None,
    ) -> None:
        self.authenticator = authenticator
        self.throttle = throttle
        self.enabled = enabled
        # Set when authentication is turned on: ends the WebSockets accepted without a credential.
        self._anonymous_ended = asyncio.Event()
        self.reconfigure(metrics_require_token=metrics_require_token)

    def require_tokens(self, enabled: bool) -> None:
        """Turn authentication on or off from the next request; turning it on closes the WebSockets
        accepted without a credential."""
        if enabled and not self.enabled:
            self._anonymous_ended.set()
        elif not enabled and self.enabled:
            self._anonymous_ended = asyncio.Event()
        self.enabled = enabled

    def reconfigure(self, *, metrics_require_token: bool) -> None:
        """Whether ``/metrics`` needs a token, from the next request on."""
        self._expand = {METRICS: (VIEWER,) if metrics_require_token else (OPEN,)}
        self._required: dict[BaseRouteHandler, tuple[str, ...]] = {}

    def required(self, handler: BaseRouteHandler) -> tuple[str, ...]:
        """The roles that may call ``handler`` (``(OPEN,)`` for anyone), as this sidecar is configured."""
        roles = self._required.get(handler)
        if roles is None:
            declared = declared_roles(handler.opt) or ()
            roles = self._required[handler] = tuple(
                role for name in declared for role in self._expand.get(name, (name,))
            )
        return roles

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        socket = scope["type"] == ScopeType.WEBSOCKET
        roles = self.required(scope["route_handler"])
        if OPEN in roles or (not socket and scope["method"] == "OPTIONS"):
            scope["user"] = None
            await next_app(scope, receive, send)
            return
        if not self.enabled:
            scope["user"] = Principal(name=_header(scope, _USER) or None, role=ADMIN)
            if socket:
                await _serve_until(self._anonymous_ended, _NOW_REQUIRED, scope, receive, send, next_app)
            else:
                await next_app(scope, receive, send)
            return
        try:
            principal = await self._authenticate(scope, self.authenticator, socket)
        except InvalidCredentials as error:
            await self._refuse(scope, receive, send, 401, str(error), invalid=True)
            return
        except (SQLAlchemyError, OSError) as error:
            # A token not verified yet cannot be while the database is away; verified ones still work.
            log.warning("cannot check a token: %s: %s", type(error).__name__, error)
            await self._refuse(scope, receive, send, 503, _UNCHECKABLE)
            return
        if principal is None:
            await self._refuse(scope, receive, send, 401, _MISSING_SOCKET if socket else _MISSING)
            return
        if not principal.admitted(roles):
            detail = f"token {principal.name!r} has the {principal.role} role; this needs {describe(roles)}"
            await self._refuse(scope, receive, send, 403, detail)
            return
        scope["user"] = principal
        scope["auth"] = principal.token_id
        if socket and principal.token_id is not None:
            await _serve_watched(self.authenticator, principal.token_id, scope, receive, send, next_app)
        else:
            await next_app(scope, receive, send)

    async def _authenticate(self, scope: Scope, authenticator: Authenticator, socket: bool) -> Principal | None:
        authorization = _header(scope, _AUTHORIZATION)
        if authorization is not None:
            scheme, _, token = authorization.strip().partition(" ")
            token = token.strip()
            if scheme.lower() != "bearer" or not token:
                await self._throttle(scope, socket)
                raise InvalidCredentials("Authorization: expected 'Bearer <token>'")
            if not authenticator.knows(token):
                await self._throttle(scope, socket)
            return await authenticator.authenticate(token)
        await self._throttle(scope, socket)
        if socket:
            tickets = parse_qs(scope["query_string"].decode("latin-1")).get("ticket")
            if tickets:
                return await authenticator.redeem_ticket(tickets[-1])
        return None

    async def _throttle(self, scope: Scope, socket: bool) -> None:
        # The feed's handshakes are capped by connection counts instead of rates.
        if self.throttle is not None and not socket:
            await self.throttle(scope)

    @staticmethod
    async def _refuse(
        scope: Scope, receive: Receive, send: Send, status: int, detail: str, *, invalid: bool = False
    ) -> None:
        if scope["type"] == ScopeType.WEBSOCKET:
            if (await receive())["type"] != "websocket.connect":
                return
            await send({"type": "websocket.accept"})
            code = _CLOSE_TRY_AGAIN if status == 503 else 4000 + status
            await send({"type": "websocket.close", "code": code, "reason": _reason(detail)})
            return
        if status == 503:
            raise ServiceUnavailableException(detail=detail)
        if status == 403:
            raise PermissionDeniedException(
                detail=detail, headers={"WWW-Authenticate": f'{_CHALLENGE}, error="insufficient_scope"'}
            )
        challenge = f'{_CHALLENGE}, error="invalid_token"' if invalid else _CHALLENGE
        raise NotAuthorizedException(detail=detail, headers={"WWW-Authenticate": challenge})


async def _serve_watched(
    authenticator: Authenticator, token_id: str, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp
) -> None:
    """Run a WebSocket route; close the connection when its token is revoked or expires."""
    ended = authenticator.watch(token_id)
    try:
        await _serve_until(ended, "token revoked or expired", scope, receive, send, next_app)
    finally:
        authenticator.unwatch(token_id)


async def _serve_until(
    ended: asyncio.Event, reason: str, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp
) -> None:
    """Run a WebSocket route; once ``ended`` is set, close the connection with 4401 and ``reason`` and
    send nothing more on it."""
    closed = False

    async def guarded_send(message: Message) -> None:
        nonlocal closed
        if closed:
            return
        if message["type"] == "websocket.close":
            closed = True
        await send(message)

    async def close_when_ended() -> None:
        nonlocal closed
        await ended.wait()
        if not closed:
            closed = True
            # The client may have gone meanwhile: then there is nothing left to close.
            with contextlib.suppress(OSError, RuntimeError):
                await send({"type": "websocket.close", "code": CLOSE_UNAUTHENTICATED, "reason": reason})

    watcher: asyncio.Task[Any] = asyncio.get_running_loop().create_task(close_when_ended())
    try:
        await next_app(scope, receive, guarded_send)
    finally:
        watcher.cancel()
