"""Fixtures shared by every test: real sidecars and required server binaries."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from jobpulse.sidecar.storage.engine import create_engine
from jobpulse.sidecar.storage.migrate import migrate
from tests.support.postgres import PostgresServer, find_bin_dir
from tests.support.sidecar import SidecarProcess, finish_stopping

# Settings default to a database in the per-user data directory: never the real one in tests.
os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="jobpulse-data-")

# A suite a shell started in the background without job control inherits SIGINT ignored, and passes
# that on to every process it starts, where the commands rightly keep it (as under nohup): the tests
# that press Ctrl+C on a command would wait in vain. Handled here, it is back to its default in them.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def _own_data_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test's default database (and any sidecar or demo it starts without one) in its own directory."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))


def require_binary(name: str, *candidates: str) -> str:
    """Path of a server binary; a missing one fails in CI and skips (with the reason) elsewhere."""
    for candidate in (name, *candidates):
        path = shutil.which(candidate) or (
            candidate if os.path.isabs(candidate) and os.access(candidate, os.X_OK) else None
        )
        if path:
            return path
    message = f"{name} is not installed (.ci/run installs it)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session", autouse=True)
def _sidecars_stopped_by_the_end() -> Iterator[None]:
    """Sidecars stopped without waiting (`SidecarProcess.stop_soon`) have exited when the run ends."""
    yield
    finish_stopping()


@pytest.fixture
def sidecar(tmp_path: Path) -> Iterator[SidecarProcess]:
    """A fresh sidecar for one test."""
    process = SidecarProcess(tmp_path).start()
    yield process
    process.stop_soon()


@pytest.fixture(scope="session")
def shared_sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SidecarProcess]:
    """One sidecar for every test that needs no fresh one; tests keep apart by using their own job ids,
    names and types."""
    process = SidecarProcess(tmp_path_factory.mktemp("sidecar")).start()
    yield process
    process.stop()


def start_postgres() -> PostgresServer:
    """A real PostgreSQL server of the caller's own; stop it when done."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        require_binary("initdb")
    return PostgresServer(bin_dir).start()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the session (each test takes its own database)."""
    server = start_postgres()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each backend: the storage suite runs once against each."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'history.db'}"
    return request.getfixturevalue("postgres_server").new_database()


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on ``database_url`` with the schema at its newest revision."""
    engine = create_engine(database_url)
    await migrate(engine)
    yield engine
    await engine.dispose()
