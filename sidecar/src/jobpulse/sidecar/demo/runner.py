"""The demo runner: one sidecar, a local HTTP API, and the demo jobs in their own processes.

Stopping (Ctrl+C, SIGTERM, ``--duration``) goes in this order: no new job starts, the running ones
are asked to stop (SIGTERM, so they end as ``cancelled``), and once they have exited, their last
records delivered, the sidecar shuts down and writes what it holds to history. Each job runs in its
own process group, so Ctrl+C at a terminal reaches only the runner, which stops the jobs in that
order; a second Ctrl+C kills the jobs without waiting for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from jobpulse.sidecar.auth.manage import on_tokens
from jobpulse.sidecar.auth.roles import INGEST
from jobpulse.sidecar.demo.browser import can_open_browser, open_in_browser
from jobpulse.sidecar.demo.fake_api import FakeApi
from jobpulse.sidecar.demo.jobs import JOBS
from jobpulse.sidecar.server import SidecarServer
from jobpulse.sidecar.settings import Settings

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# How long a job asked to stop may take to send its last records before it is killed.
JOB_STOP_TIMEOUT_S = 10.0
# With authentication on, the demo's jobs send with an ingest token of this name, made at start.
DEMO_TOKEN_NAME = "jobpulse-demo"

DEMO_API_SEED = 7


def _say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


class DemoRunner:
    """Runs every demo job in a loop (or once each) against an in-process sidecar."""

    def __init__(
        self, settings: Settings, *, speed: float, once: bool, duration: float | None, open_browser: bool = False
    ) -> None:
        self.settings = settings
        self.speed = speed
        self.once = once
        self.duration = duration
        self.open_browser = open_browser
        self.workdir = Path(tempfile.mkdtemp(prefix="jobpulse-demo-"))
        self.children: set[asyncio.subprocess.Process] = set()
        self.results: list[tuple[str, int]] = []
        self.stop_signal: int | None = None
        self._stopping = asyncio.Event()
        self._seeds = itertools.count(1)
        # The jobs' OTEL_EXPORTER_OTLP_HEADERS when authentication is on.
        self.export_headers: str | None = None

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self.settings.host in ("0.0.0.0", "::", "") else self.settings.host
        return f"http://{host}:{self.settings.port}"

    def banner(self) -> None:
        url = self.base_url
        print(
            f"\njobpulse demo is running.\n\n"
            f"  Open the console:  {url}/\n\n"
            f"  REST API      {url}/api/jobs (described at {url}/schema/openapi.json)\n"
            f"  active jobs   {url}/api/monitor/jobs\n"
            f"  live feed     {url.replace('http', 'ws', 1)}/ws\n"
            f"Jobs send OpenTelemetry to {url}/v1/logs. Press Ctrl+C to stop.\n",
            flush=True,
        )
        if self.export_headers:
            print(
                f"Authentication is on: the demo jobs send with the ingest token {DEMO_TOKEN_NAME!r}; make yourself\n"
                f"one to look: jobpulse tokens create NAME --role viewer (docs/security.md).\n",
                flush=True,
            )
        if self.open_browser and can_open_browser(os.environ):
            # webbrowser may wait for the browser it starts: not on the event loop.
            asyncio.get_running_loop().run_in_executor(None, open_in_browser, f"{url}/")

    def request_stop(self, sig: int | None = None) -> None:
        """Stop the demo (``sig``: the signal that asked, if one did); asked again, kill the jobs.

        The sidecar's own shutdown is never cut short: it is what writes the history.
        """
        if self._stopping.is_set():
            self._kill_children()
            return
        self.stop_signal = sig
        self._stopping.set()
        _say("stopping: the running jobs end as cancelled, then the sidecar writes its history")
        for process in self.children:
            if process.returncode is None:
                process.terminate()
        asyncio.get_running_loop().call_later(JOB_STOP_TIMEOUT_S, self._kill_children)

    def _kill_children(self) -> None:
        for process in self.children:
            if process.returncode is None:
                process.kill()

    async def _run_job(self, name: str, api_url: str, wait_s: float) -> int:
        env = dict(os.environ, OTEL_EXPORTER_OTLP_ENDPOINT=self.base_url, OTEL_SERVICE_NAME="jobpulse-demo")
        if self.export_headers:
            env["OTEL_EXPORTER_OTLP_HEADERS"] = self.export_headers
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "jobpulse.sidecar.demo.jobs",
            name,
            "--workdir",
            str(self.workdir / name),
            "--speed",
            str(self.speed),
            "--api-url",
            api_url,
            "--seed",
            str(next(self._seeds)),
            "--wait",
            str(wait_s),
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            process_group=0,
        )
        self.children.add(process)
        if self._stopping.is_set():
            process.terminate()
        _say(f"started {name} (pid {process.pid})")
        try:
            code = await process.wait()
        finally:
            self.children.discard(process)
        outcomes = {0: "completed", 130: "cancelled", -signal.SIGTERM: "stopped", -signal.SIGKILL: "killed"}
        outcome = outcomes.get(code, f"failed (exit {code})")
        _say(f"{name} {outcome}")
        self.results.append((name, code))
        return code

    async def _stopped_within(self, seconds: float) -> bool:
        """Wait ``seconds``, less if the demo stops meanwhile; whether it is stopping."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
        return self._stopping.is_set()

    async def _job_loop(self, name: str, api_url: str, rng: random.Random) -> None:
        pause = rng.uniform(0, 3)
        while not await self._stopped_within(pause / self.speed):
            # Each run waits in the demo's queue for a moment before it starts.
            await self._run_job(name, api_url, rng.uniform(0.5, 3))
            if self.once:
                return
            pause = rng.uniform(3, 8)

    async def _run_jobs(self, api_url: str) -> None:
        rng = random.Random()
        async with asyncio.TaskGroup() as jobs:
            for name in JOBS:
                jobs.create_task(self._job_loop(name, api_url, rng), name=name)
        if self.once and not self._stopping.is_set():
            _say(f"all demo jobs ran once: {self._summary()}")

    async def _started(self, server: SidecarServer, serving: asyncio.Task[None]) -> bool:
        """Wait until the sidecar serves; False if it cannot start or the demo stops first."""
        while not server.started:
            if serving.done() or self._stopping.is_set():
                return False
            await asyncio.sleep(0.05)
        return True

    async def _make_job_token(self) -> None:
        """With authentication on, an ingest token for the demo's jobs (one left by an earlier run is replaced)."""
        if self.settings.auth_on:
            _, token = await on_tokens(
                self.settings.database_url, lambda tokens: tokens.create(DEMO_TOKEN_NAME, INGEST, replace=True)
            )
            self.export_headers = f"Authorization=Bearer {token}"

    async def _revoke_job_token(self) -> None:
        if self.export_headers:
            await on_tokens(self.settings.database_url, lambda tokens: tokens.revoke(DEMO_TOKEN_NAME))

    async def run(self) -> int:
        """Run until stopped; the exit status: 128 + the stopping signal, 0, or 1 if the sidecar failed."""
        await self._make_job_token()
        loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, self.request_stop, sig)
        server = SidecarServer(self.settings, handle_signals=False)
        # Seeded: its busy answers are the same every run, so the retried upload completes every time
        # (unseeded, a run could now and then draw four 503s in a row for one batch and fail it).
        api = FakeApi(seed=DEMO_API_SEED).start()
        serving = asyncio.create_task(server.serve(), name="sidecar")
        timer = loop.call_later(self.duration, self.request_stop) if self.duration else None
        try:
            if await self._started(server, serving):
                self.banner()
                jobs = asyncio.create_task(self._run_jobs(api.url), name="demo jobs")
                await asyncio.wait({jobs, serving}, return_when=asyncio.FIRST_COMPLETED)
                if not jobs.done():
                    # The sidecar stopped under the jobs: they would only fail to report.
                    self.request_stop()
                await jobs
            sidecar_failed = serving.done()
            server.begin_shutdown()
            await serving
        finally:
            if timer is not None:
                timer.cancel()
            for sig in STOP_SIGNALS:
                loop.remove_signal_handler(sig)
            api.stop()
            shutil.rmtree(self.workdir, ignore_errors=True)
            await self._revoke_job_token()
        if self.stop_signal is not None:
            return 128 + self.stop_signal
        return 1 if sidecar_failed else 0

    def _summary(self) -> str:
        return ", ".join(f"{name}: exit {code}" for name, code in self.results)


def run_demo(
    settings: Settings,
    *,
    speed: float = 1.0,
    once: bool = False,
    duration: float | None = None,
    open_browser: bool = False,
) -> int:
    """Serve the sidecar and run demo jobs until Ctrl+C, ``duration`` seconds, or (``once``) all ran;
    with ``open_browser``, show the console in a browser where one can be shown.

    Returns the exit status: 130 after Ctrl+C (128 + the signal number, as a shell reports a program
    stopped by a signal), 0 after ``duration`` or ``once``, 1 if the sidecar could not serve.
    """
    runner = DemoRunner(settings, speed=speed, once=once, duration=duration, open_browser=open_browser)
    return asyncio.run(runner.run())
