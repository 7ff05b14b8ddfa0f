"""``/api/auth``: WebSocket tickets, who the caller is, and tokens (admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery, JSONBody

from jobpulse.sidecar.api.errors import ConflictException, UnprocessableEntityException
from jobpulse.sidecar.auth.principal import Principal
from jobpulse.sidecar.auth.roles import ADMIN, INGEST, VIEWER, access
from jobpulse.sidecar.auth.service import AuthService
from jobpulse.sidecar.auth.tokens import TokenError, TokenInfo, TokenName
from jobpulse.sidecar.timestamps import to_datetime

# Past a century an expiry is a mistake, and far beyond it past the times storage holds.
_LONGEST_EXPIRY_S = 100 * 366 * 86400


class WsTicket(msgspec.Struct):
    """Connect to ``/ws?ticket=<ticket>`` before ``expires_at``; a ticket works once."""

    ticket: str
    expires_at: datetime


class WhoAmI(msgspec.Struct):
    """The caller as the sidecar sees it."""

    name: str | None
    role: str
    auth_enabled: bool


class TokenRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A new token: its name (the identity it acts as), its role and, optionally, its lifetime."""

    name: TokenName
    role: Literal["ingest", "viewer", "operator", "admin"]
    expires_in_s: Annotated[float, msgspec.Meta(gt=0, le=_LONGEST_EXPIRY_S)] | None = None
    replace: bool = False


class NewToken(msgspec.Struct):
    """The token, shown this once and never again, and the token as listed."""

    token: str
    info: TokenInfo


class AuthController(Controller):
    """Tickets for the live feed, the caller's identity, and token management."""

    path = "/api/auth"
    tags = ["auth"]

    @post(
        "/ws-ticket",
        status_code=200,
        summary="A short-lived, single-use ticket for the live feed (browsers)",
        opt=access(VIEWER),
    )
    async def ws_ticket(
        self, auth_service: NamedDependency[AuthService], principal: NamedDependency[Principal]
    ) -> WsTicket:
        ticket, expires_ns = await auth_service.issue_ticket(principal)
        return WsTicket(ticket=ticket, expires_at=to_datetime(expires_ns))  # type: ignore[arg-type]

    @get("/whoami", summary="The caller's name and role", opt=access(VIEWER, INGEST))
    async def whoami(self, auth_service: NamedDependency[AuthService], principal: NamedDependency[Principal]) -> WhoAmI:
        return WhoAmI(name=principal.name, role=principal.role, auth_enabled=auth_service.enabled)

    @get("/tokens", summary="Tokens (never their secrets)", opt=access(ADMIN))
    async def list_tokens(
        self, auth_service: NamedDependency[AuthService], include_inactive: FromQuery[bool] = False
    ) -> list[TokenInfo]:
        return await auth_service.tokens.list_tokens(include_inactive=include_inactive)

    @post(
        "/tokens",
        status_code=201,
        summary="Create a token; the answer is the only time it is shown",
        opt=access(ADMIN),
        raises=[ConflictException, UnprocessableEntityException],
    )
    async def create_token(self, auth_service: NamedDependency[AuthService], data: JSONBody[TokenRequest]) -> NewToken:
        try:
            info, token = await auth_service.tokens.create(
                data.name, data.role, expires_in_s=data.expires_in_s, replace=data.replace
            )
        except TokenError as error:
            raise ConflictException(detail=str(error)) from None
        return NewToken(token=token, info=info)

    @delete(
        "/tokens/{name:str}",
        status_code=204,
        summary="Revoke the token with this name",
        opt=access(ADMIN),
        raises=[NotFoundException],
    )
    async def revoke_token(self, auth_service: NamedDependency[AuthService], name: FromPath[str]) -> None:
        try:
            await auth_service.tokens.revoke(name)
        except TokenError as error:
            raise NotFoundException(detail=str(error)) from None


async def principal_of(request: Request) -> Principal:
    """The caller of ``request``, as the access middleware found it (a Litestar dependency)."""
    return request.user
