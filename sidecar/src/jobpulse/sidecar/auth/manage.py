"""Token management outside a running sidecar: the ``jobpulse tokens`` commands work on the database.

They migrate the schema first, so tokens can be made before any sidecar has started (a deployment
creates its tokens, then starts its replicas).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

from rich.table import Table

from jobpulse.sidecar.auth.tokens import TokenInfo, TokenRepository
from jobpulse.sidecar.storage.engine import create_engine
from jobpulse.sidecar.storage.migrate import migrate

T = TypeVar("T")


async def on_tokens(database_url: str, work: Callable[[TokenRepository], Awaitable[T]]) -> T:
    """Await ``work`` on the tokens of the database at ``database_url``."""
    engine = create_engine(database_url)
    try:
        await migrate(engine)
        return await work(TokenRepository(engine))
    finally:
        await engine.dispose()


def with_tokens(database_url: str, work: Callable[[TokenRepository], Awaitable[T]]) -> T:
    """Run ``work`` on the tokens of the database at ``database_url`` (outside an event loop)."""
    return asyncio.run(on_tokens(database_url, work))


def _when(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value is not None else "-"


def token_table(tokens: list[TokenInfo]) -> Table:
    """``tokens`` as ``jobpulse tokens list`` shows them."""
    table = Table(show_header=True)
    for column in ("name", "role", "state", "created", "last used", "expires", "id"):
        # Folded rather than cut short in a narrow terminal: every time and id is shown whole.
        table.add_column(column, overflow="fold")
    for token in tokens:
        table.add_row(
            token.name,
            token.role,
            token.state,
            _when(token.created_at),
            _when(token.last_used_at),
            _when(token.expires_at),
            token.id,
        )
    return table
