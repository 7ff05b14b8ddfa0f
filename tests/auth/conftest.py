"""Sidecars with authentication on, and the tokens to call them with.

Tokens are made in the sidecar's own database, as ``jobpulse tokens create`` makes them (the
command itself is tested in test_tokens_cli).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from jobpulse.sidecar.auth.manage import with_tokens
from tests.support.sidecar import SidecarProcess


def make_token(database_url: str, name: str, role: str, expires_in_s: float | None = None) -> str:
    """A new token in the database at ``database_url``: its text."""
    return with_tokens(database_url, lambda tokens: tokens.create(name, role, expires_in_s=expires_in_s))[1]


def revoke_token(database_url: str, name: str) -> None:
    with_tokens(database_url, lambda tokens: tokens.revoke(name))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def database_in(workdir: Path) -> str:
    return f"sqlite+aiosqlite:///{workdir / 'jobpulse.db'}"


@dataclass
class AuthSidecar:
    """A sidecar with authentication on and a token for each role."""

    process: SidecarProcess
    database_url: str
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.process.url

    def token(self, name: str, role: str, expires_in_s: float | None = None) -> str:
        return make_token(self.database_url, name, role, expires_in_s)

    def revoke(self, name: str) -> None:
        revoke_token(self.database_url, name)


ROLE_TOKENS = ("ingest", "viewer", "operator", "admin")


def auth_sidecar_process(workdir: Path, **settings: object) -> AuthSidecar:
    """A sidecar with authentication on, not started yet, its database holding one token per role, named
    after it."""
    database_url = database_in(workdir)
    tokens = {role: make_token(database_url, role, role) for role in ROLE_TOKENS}
    process = SidecarProcess(workdir, auth_enabled="true", database_url=database_url, **settings)
    return AuthSidecar(process, database_url, tokens)


def start_auth_sidecar(workdir: Path, **settings: object) -> AuthSidecar:
    """`auth_sidecar_process`, started."""
    sidecar = auth_sidecar_process(workdir, **settings)
    sidecar.process.start()
    return sidecar


@pytest.fixture(scope="module")
def auth_sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthSidecar]:
    sidecar = start_auth_sidecar(tmp_path_factory.mktemp("auth"))
    yield sidecar
    sidecar.process.stop_soon()


@contextmanager
def opened(url: str, **headers: str) -> Iterator[tuple[ClientConnection, dict]]:
    """A connection to the feed and the snapshot it got first, over the protocol itself: what a test
    of close codes and of tickets (a browser's way in) needs."""
    with connect(url, open_timeout=10, additional_headers=headers) as connection:
        snapshot = json.loads(connection.recv(timeout=10))[0]
        assert snapshot["type"] == "snapshot", snapshot
        yield connection, snapshot


def closing(connection: ClientConnection) -> tuple[int, str]:
    """The close code and reason of an open connection the sidecar closes within 10 s."""
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            connection.recv(timeout=10)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


def refusal(url: str, **headers: str) -> tuple[int, str]:
    """The close code and reason of a connection the sidecar refuses; fails if any message comes first."""
    with connect(url, open_timeout=10, additional_headers=headers) as connection:
        try:
            message = connection.recv(timeout=10)
        except ConnectionClosed as closed:
            assert closed.rcvd is not None
            return closed.rcvd.code, closed.rcvd.reason
    raise AssertionError(f"the connection was not refused; it got {message!r}")
