"""Auth's tables: API tokens (their secrets hashed) and the WebSocket tickets issued for them."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, String, Table

from jobpulse.sidecar.storage.schema import metadata

api_tokens = Table(
    "api_tokens",
    metadata,
    # The public part of a token (``jp_<id>_<secret>``): requests are looked up by it.
    Column("id", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    Column("secret_hash", String(200), nullable=False),
    Column("created_ns", BigInteger, nullable=False),
    Column("expires_ns", BigInteger),
    Column("last_used_ns", BigInteger),
    Column("revoked_ns", BigInteger),
    Index("ix_api_tokens_name", "name"),
)

ws_tickets = Table(
    "ws_tickets",
    metadata,
    # SHA-256 of the ticket: a ticket is single-use and short-lived, and never stored as given.
    Column("ticket_hash", String(64), primary_key=True),
    Column("token_id", String(32), nullable=False),
    Column("expires_ns", BigInteger, nullable=False),
    Index("ix_ws_tickets_expires", "expires_ns"),
)
