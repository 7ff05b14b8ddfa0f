"""Tokens and tickets in each database backend: what the CLI, the REST routes and the authenticator rely on."""

from __future__ import annotations

import asyncio
import time

import pytest

from jobpulse.sidecar.auth.authenticator import Authenticator, InvalidCredentials
from jobpulse.sidecar.auth.tickets import TicketBook
from jobpulse.sidecar.auth.tokens import TokenError, TokenRepository


async def test_one_usable_token_per_name_revocation_and_expiry(engine):
    tokens = TokenRepository(engine)
    info, text = await tokens.create("ana", "viewer")
    assert text.startswith(f"jp_{info.id}_") and info.state == "active"
    with pytest.raises(TokenError, match="a token named 'ana' exists"):
        await tokens.create("ana", "admin")
    replaced, _ = await tokens.create("ana", "admin", replace=True)
    await tokens.create("short-lived", "ingest", expires_in_s=0.001)
    assert {(token.name, token.role) for token in await tokens.list_tokens()} == {("ana", "admin")}
    everything = {token.id: token.state for token in await tokens.list_tokens(include_inactive=True)}
    assert sorted(everything.values()) == ["active", "expired", "revoked"]
    assert set(await tokens.usable(everything)) == {replaced.id}
    assert await tokens.count_usable() == 1
    assert await tokens.revoke("ana") == 1
    with pytest.raises(TokenError, match="no usable token named 'ana'"):
        await tokens.revoke("ana")
    assert await tokens.usable(everything) == {}


async def test_last_use_is_written_in_one_batch(engine):
    tokens = TokenRepository(engine)
    first, _ = await tokens.create("a", "viewer")
    second, _ = await tokens.create("b", "viewer")
    await tokens.record_use({first.id: 1_000, second.id: 2_000})
    listed = {token.name: token.last_used_at.timestamp() for token in await tokens.list_tokens()}
    assert listed == {"a": pytest.approx(1e-6), "b": pytest.approx(2e-6)}


async def test_a_ticket_is_redeemed_once_even_by_racing_connections(engine):
    tokens = TokenRepository(engine)
    info, _ = await tokens.create("ana", "viewer")
    tickets = TicketBook(engine, ttl_s=30)
    ticket, expires_ns = await tickets.issue(info.id)
    assert expires_ns > time.time_ns()
    results = await asyncio.gather(*(tickets.redeem(ticket) for _ in range(5)))
    assert sorted(results, key=lambda result: result is None) == [(info.id, True), None, None, None, None]
    clock = [time.time_ns()]
    ticking = TicketBook(engine, ttl_s=30, clock_ns=lambda: clock[0])
    stale, _ = await ticking.issue(info.id)
    clock[0] += 30 * 10**9
    assert await ticking.redeem(stale) == (info.id, False), "used up, and too late"


async def test_the_authenticator_sees_a_revocation_at_its_next_recheck(engine):
    tokens = TokenRepository(engine)
    _, text = await tokens.create("ana", "operator")
    authenticator = Authenticator(tokens, TicketBook(engine, 30), recheck_s=60)
    principal = await authenticator.authenticate(text)
    assert (principal.name, principal.role) == ("ana", "operator")
    ended = authenticator.watch(principal.token_id)
    await tokens.revoke("ana")
    assert await authenticator.authenticate(text) == principal, "cached until the next recheck"
    await authenticator.recheck()
    assert ended.is_set()
    with pytest.raises(InvalidCredentials, match="token 'ana' has been revoked"):
        await authenticator.authenticate(text)
    with pytest.raises(InvalidCredentials, match="unknown token"):
        await authenticator.authenticate(text[:-4] + "abcd")
    with pytest.raises(InvalidCredentials, match="not a jobpulse token"):
        await authenticator.authenticate("hunter2")
