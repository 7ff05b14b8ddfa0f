"""A real sidecar in a subprocess, on a free loopback port, with its own temp directory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from jobpulse.client import Client, JobDetail, NotFound
from tests.support import loopback
from tests.support.polling import wait_for
from tests.support.ports import free_port

REPO = Path(__file__).resolve().parents[2]


class SidecarProcess:
    """``python -m jobpulse.sidecar sidecar`` with settings from JOBPULSE_* variables.

    ``argv`` runs another server that reads the same variables instead (the benchmarks' bare
    endpoint); ``cpus`` pins the process to those cores.
    """

    def __init__(
        self,
        workdir: Path,
        port: int | None = None,
        *,
        argv: list[str] | None = None,
        name: str = "sidecar",
        cpus: set[int] | None = None,
        **settings: Any,
    ) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.argv = argv or [sys.executable, "-m", "jobpulse.sidecar", "sidecar"]
        self.name = name
        self.cpus = cpus
        self.settings = settings
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / f"{name}-{self.port}.log"
        self._client: Client | None = None
        self._terminated = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith(("OTEL_", "JOBPULSE_"))}
        env.update({f"JOBPULSE_{key.upper()}": str(value) for key, value in self.settings.items()})
        env["JOBPULSE_PORT"] = str(self.port)
        env["JOBPULSE_HOST"] = "127.0.0.1"
        # The default database lives in the per-user data directory: keep it in the test's directory.
        env["XDG_DATA_HOME"] = str(self.workdir)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        return env

    def start(self, timeout: float = 20.0) -> SidecarProcess:
        cpus = self.cpus
        self._terminated = False
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                env=self.env(),
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
            )
        wait_for(self._ready, timeout=timeout, interval=0.05)
        return self

    def __enter__(self) -> SidecarProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        assert self.process is not None, "not started"
        return self.process.pid

    def _ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.process.returncode}:\n{self.log()}")
        try:
            return loopback.get(self.url + "/readyz", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    @property
    def client(self) -> Client:
        """A ``jobpulse.client`` Client of this sidecar, made on first use and closed with the sidecar."""
        if self._client is None:
            self._client = Client(self.url)
        return self._client

    def job(self, job_id: str) -> JobDetail | None:
        """The job as the sidecar describes it, or None while the sidecar does not know it."""
        try:
            return self.client.job(job_id)
        except NotFound:
            return None

    def _close_client(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 15.0) -> None:
        """Graceful stop (SIGTERM, as a service manager would), done when the process has exited."""
        self._terminate()
        if self.process is not None:
            _reap(self.process, timeout)

    def stop_soon(self) -> None:
        """Graceful stop of a sidecar nothing uses any more, not waited for: its shutdown (some 0.2 s,
        mostly uvicorn's polling) overlaps what runs next. `finish_stopping` waits for it."""
        if self._terminate():
            _STOPPING.append(self.process)

    def _terminate(self) -> bool:
        """SIGTERM sent now; False when there was no running process to send it to or it was sent before
        (a second one would make uvicorn exit without its graceful shutdown)."""
        self._close_client()
        if self.process is None or self.process.poll() is not None or self._terminated:
            return False
        self.process.send_signal(signal.SIGTERM)
        self._terminated = True
        return True

    def kill(self) -> None:
        """Crash it (SIGKILL): nothing gets flushed."""
        self._close_client()
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def get(self, path: str, **params: Any) -> httpx.Response:
        return loopback.get(self.url + path, params=params, timeout=10.0)

    def get_json(self, path: str) -> Any:
        response = loopback.get(self.url + path, timeout=30.0)
        response.raise_for_status()
        return response.json()

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return loopback.post(self.url + path, timeout=10.0, **kwargs)


_STOPPING: list[subprocess.Popen[bytes]] = []


def _reap(process: subprocess.Popen[bytes], timeout: float) -> None:
    """Wait for ``process`` to exit, killing it after ``timeout``."""
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def finish_stopping(timeout: float = 15.0) -> None:
    """Wait for every sidecar `SidecarProcess.stop_soon` stopped (at the end of the run)."""
    while _STOPPING:
        _reap(_STOPPING.pop(), timeout)


def start_together(*processes: SidecarProcess) -> tuple[SidecarProcess, ...]:
    """Start ``processes`` at once, as a fleet's replicas start, each ready when this returns.

    Starting is mostly waiting for the interpreter to import: side by side it takes the time of one.
    If any fails to start, all are stopped and its error raised.
    """
    with ThreadPoolExecutor(len(processes)) as pool:
        futures = [pool.submit(process.start) for process in processes]
    try:
        for future in futures:
            future.result()
    except BaseException:
        for process in processes:
            process.stop()
        raise
    return processes


@contextmanager
def running_together(*processes: SidecarProcess) -> Iterator[tuple[SidecarProcess, ...]]:
    """``processes`` started together (`start_together`), stopped at the end of the block."""
    start_together(*processes)
    try:
        yield processes
    finally:
        for process in reversed(processes):
            process.stop()


@contextmanager
def started_ahead(**processes: SidecarProcess) -> Iterator[dict[str, SidecarProcess]]:
    """``processes`` by name, started together (`start_together`) ahead of the tests that each take one,
    untouched until then: a module whose tests each need a fresh sidecar of their own, with settings of
    their own, waits for about one start-up per core instead of one per test. Those still running at the
    end of the block are stopped (`SidecarProcess.stop_soon`)."""
    start_together(*processes.values())
    try:
        yield processes
    finally:
        for process in processes.values():
            process.stop_soon()
