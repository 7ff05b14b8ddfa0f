"""Fixtures shared by every test: real sidecars and required server binaries."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.postgres import PostgresServer, find_bin_dir
from tests.support.sidecar import SidecarProcess


def require_binary(name: str, *candidates: str) -> str:
    """Path of a server binary; a missing one fails in CI and skips (with the reason) elsewhere."""
    for candidate in (name, *candidates):
        path = shutil.which(candidate) or (candidate if os.path.isabs(candidate) and os.access(candidate, os.X_OK) else None)
        if path:
            return path
    message = f"{name} is not installed (.ci/run installs it)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def sidecar(tmp_path: Path) -> Iterator[SidecarProcess]:
    """A fresh sidecar for one test."""
    process = SidecarProcess(tmp_path).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def shared_sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SidecarProcess]:
    """One sidecar for a whole module; tests keep apart by using their own job ids."""
    process = SidecarProcess(tmp_path_factory.mktemp("sidecar")).start()
    yield process
    process.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the session (each test takes its own database)."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        require_binary("initdb")
    server = PostgresServer(bin_dir).start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each backend: the storage suite runs once against each."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'history.db'}"
    return request.getfixturevalue("postgres_server").new_database()
