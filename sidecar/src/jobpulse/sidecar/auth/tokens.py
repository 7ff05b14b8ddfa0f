"""Tokens in the database: create, list, revoke, and what a request needs to know about one.

Every replica sharing the database sees the same tokens: the ``jobpulse tokens`` commands and the
admin REST routes write here, and each sidecar rereads the tokens it has cached every few seconds
(see authenticator), so a revocation reaches them all.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Annotated, Any

import msgspec
from sqlalchemy import ColumnElement, and_, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from jobpulse.sidecar.auth.credentials import TokenParts, hash_secret, new_token
from jobpulse.sidecar.auth.principal import Principal
from jobpulse.sidecar.auth.roles import TOKEN_ROLES
from jobpulse.sidecar.auth.tables import api_tokens
from jobpulse.sidecar.timestamps import to_datetime

_NAME_PATTERN = r"^\S(.*\S)?$"
TokenName = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=_NAME_PATTERN)]
"""A token's name: the identity it acts as (``jobpulse.job.owner`` of the jobs it owns)."""

ACTIVE, EXPIRED, REVOKED = "active", "expired", "revoked"

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_NAME = re.compile(_NAME_PATTERN)


class TokenError(ValueError):
    """A token operation that cannot be done; the message says why."""


class TokenRecord(msgspec.Struct, frozen=True):
    """What a request needs to know about a usable token."""

    id: str
    name: str
    role: str
    expires_ns: int | None

    def principal(self) -> Principal:
        return Principal(name=self.name, role=self.role, token_id=self.id)

    def expired(self, now_ns: int) -> bool:
        return self.expires_ns is not None and self.expires_ns <= now_ns


class StoredToken(msgspec.Struct, frozen=True):
    """A token's row as verification reads it."""

    record: TokenRecord
    secret_hash: str
    revoked: bool


class TokenInfo(msgspec.Struct, kw_only=True):
    """A token as listed: never its secret."""

    name: str
    role: str
    id: str
    state: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


def parse_duration(text: str) -> float:
    """Seconds in ``30d``, ``12h``, ``15m``, ``90s`` or ``2w``; ValueError naming the value otherwise."""
    match = _DURATION.match(text)
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"expected a positive duration such as 90s, 15m, 12h, 30d or 2w, got {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def check_name(name: str) -> str:
    if not 1 <= len(name) <= 200 or not _NAME.match(name) or not name.isprintable():
        raise TokenError(f"token name {name!r}: 1 to 200 printable characters, not starting or ending with a space")
    return name


def check_role(role: str) -> str:
    if role not in TOKEN_ROLES:
        raise TokenError(f"role {role!r}: expected one of {', '.join(TOKEN_ROLES)}")
    return role


def _state(row: Mapping[str, Any], now_ns: int) -> str:
    if row["revoked_ns"] is not None:
        return REVOKED
    expires = row["expires_ns"]
    return EXPIRED if expires is not None and expires <= now_ns else ACTIVE


def _info(row: Mapping[str, Any], now_ns: int) -> TokenInfo:
    return TokenInfo(
        name=row["name"],
        role=row["role"],
        id=row["id"],
        state=_state(row, now_ns),
        created_at=to_datetime(row["created_ns"]),
        expires_at=to_datetime(row["expires_ns"]),
        last_used_at=to_datetime(row["last_used_ns"]),
        revoked_at=to_datetime(row["revoked_ns"]),
    )


def _usable(now_ns: int) -> ColumnElement[bool]:
    c = api_tokens.c
    return and_(c.revoked_ns.is_(None), or_(c.expires_ns.is_(None), c.expires_ns > now_ns))


class TokenRepository:
    """The ``api_tokens`` table."""

    def __init__(self, engine: AsyncEngine, clock_ns: Callable[[], int] = time.time_ns) -> None:
        self.engine = engine
        self.clock_ns = clock_ns

    async def create(
        self, name: str, role: str, *, expires_in_s: float | None = None, replace: bool = False
    ) -> tuple[TokenInfo, str]:
        """Store a new token; return it as listed and the token text, which is not kept anywhere.

        One usable token per name: an existing one is refused, or revoked first with ``replace``.
        """
        check_name(name)
        check_role(role)
        now = self.clock_ns()
        parts, text = new_token()
        row = {
            "id": parts.id,
            "name": name,
            "role": role,
            "secret_hash": hash_secret(parts.secret),
            "created_ns": now,
            "expires_ns": None if expires_in_s is None else now + int(expires_in_s * 1e9),
            "last_used_ns": None,
            "revoked_ns": None,
        }
        same_name = and_(api_tokens.c.name == name, _usable(now))
        async with self.engine.begin() as connection:
            existing = (await connection.execute(select(api_tokens.c.id).where(same_name))).first()
            if existing is not None:
                if not replace:
                    raise TokenError(
                        f"a token named {name!r} exists: revoke it first (jobpulse tokens revoke {name!r}) "
                        "or replace it (--replace)"
                    )
                await connection.execute(update(api_tokens).where(same_name).values(revoked_ns=now))
            await connection.execute(api_tokens.insert().values(row))
        return _info(row, now), text

    async def list_tokens(self, *, include_inactive: bool = False) -> list[TokenInfo]:
        """Tokens by name (usable ones only, unless ``include_inactive``)."""
        now = self.clock_ns()
        query = select(api_tokens).order_by(api_tokens.c.name, api_tokens.c.created_ns)
        if not include_inactive:
            query = query.where(_usable(now))
        async with self.engine.connect() as connection:
            return [_info(row._mapping, now) for row in await connection.execute(query)]

    async def revoke(self, name: str) -> int:
        """Revoke the usable tokens named ``name``; TokenError when there is none."""
        now = self.clock_ns()
        async with self.engine.begin() as connection:
            result = await connection.execute(
                update(api_tokens).where(api_tokens.c.name == name, _usable(now)).values(revoked_ns=now)
            )
        if not result.rowcount:
            raise TokenError(f"no usable token named {name!r}")
        return result.rowcount

    async def load(self, parts: TokenParts) -> StoredToken | None:
        """The row a presented token names, or None."""
        async with self.engine.connect() as connection:
            row = (await connection.execute(select(api_tokens).where(api_tokens.c.id == parts.id))).first()
        if row is None:
            return None
        return StoredToken(
            record=TokenRecord(row.id, row.name, row.role, row.expires_ns),
            secret_hash=row.secret_hash,
            revoked=row.revoked_ns is not None,
        )

    async def usable(self, ids: Iterable[str]) -> dict[str, TokenRecord]:
        """Which of ``ids`` are still usable (neither revoked nor expired), by id."""
        ids = list(ids)
        if not ids:
            return {}
        c = api_tokens.c
        query = select(c.id, c.name, c.role, c.expires_ns).where(c.id.in_(ids), _usable(self.clock_ns()))
        async with self.engine.connect() as connection:
            return {
                row.id: TokenRecord(row.id, row.name, row.role, row.expires_ns)
                for row in await connection.execute(query)
            }

    async def count_usable(self) -> int:
        async with self.engine.connect() as connection:
            query = select(func.count()).select_from(api_tokens).where(_usable(self.clock_ns()))
            return (await connection.execute(query)).scalar_one()

    async def record_use(self, last_used: Mapping[str, int]) -> None:
        """Write when each token was last used (one statement for the batch)."""
        if not last_used:
            return
        statement = (
            update(api_tokens).where(api_tokens.c.id == bindparam("token_id")).values(last_used_ns=bindparam("used_ns"))
        )
        async with self.engine.begin() as connection:
            await connection.execute(
                statement, [{"token_id": token_id, "used_ns": used} for token_id, used in last_used.items()]
            )
