"""Sidecars with authentication on, and the tokens to call them with.

Tokens are made in the sidecar's own database, as ``jobpulse tokens create`` makes them (the
command itself is tested in test_tokens_cli).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

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


def start_auth_sidecar(workdir: Path, **settings: object) -> AuthSidecar:
    """A sidecar with authentication on, its database holding one token per role, named after it."""
    database_url = database_in(workdir)
    tokens = {role: make_token(database_url, role, role) for role in ROLE_TOKENS}
    process = SidecarProcess(workdir, auth_enabled="true", database_url=database_url, **settings).start()
    return AuthSidecar(process, database_url, tokens)


@pytest.fixture(scope="module")
def auth_sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthSidecar]:
    sidecar = start_auth_sidecar(tmp_path_factory.mktemp("auth"))
    yield sidecar
    sidecar.process.stop()
