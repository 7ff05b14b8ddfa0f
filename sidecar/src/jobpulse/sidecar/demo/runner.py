"""The demo runner: one sidecar, a local HTTP API, and the demo jobs in their own processes."""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from jobpulse.sidecar.demo.fake_api import FakeApi
from jobpulse.sidecar.demo.jobs import JOBS
from jobpulse.sidecar.server import SidecarServer
from jobpulse.sidecar.settings import Settings


def _say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


class DemoRunner:
    """Runs every demo job in a loop (or once each) against an in-process sidecar."""

    def __init__(self, settings: Settings, *, speed: float, once: bool, duration: float | None) -> None:
        self.settings = settings
        self.speed = speed
        self.once = once
        self.duration = duration
        self.workdir = Path(tempfile.mkdtemp(prefix="jobpulse-demo-"))
        self.children: set[asyncio.subprocess.Process] = set()
        self.results: list[tuple[str, int]] = []
        self._seeds = itertools.count(1)

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self.settings.host in ("0.0.0.0", "::", "") else self.settings.host
        return f"http://{host}:{self.settings.port}"

    def banner(self) -> None:
        url = self.base_url
        print(
            f"\njobpulse demo is running. Open:\n"
            f"  API docs      {url}/schema/swagger\n"
            f"  active jobs   {url}/api/monitor/jobs\n"
            f"  job history   {url}/api/jobs\n"
            f"  live feed     {url.replace('http', 'ws', 1)}/ws\n"
            f"Jobs send OpenTelemetry to {url}/v1/logs. Press Ctrl+C to stop.\n",
            flush=True,
        )

    async def _run_job(self, name: str, api_url: str) -> int:
        env = dict(os.environ, OTEL_EXPORTER_OTLP_ENDPOINT=self.base_url, OTEL_SERVICE_NAME="jobpulse-demo")
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "jobpulse.sidecar.demo.jobs", name,
            "--workdir", str(self.workdir / name), "--speed", str(self.speed), "--api-url", api_url,
            "--seed", str(next(self._seeds)),
            env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )
        self.children.add(process)
        _say(f"started {name} (pid {process.pid})")
        try:
            code = await process.wait()
        finally:
            self.children.discard(process)
        outcome = {0: "completed", 130: "cancelled"}.get(code, f"failed (exit {code})")
        _say(f"{name} {outcome}")
        self.results.append((name, code))
        return code

    async def _job_loop(self, name: str, api_url: str, rng: random.Random) -> None:
        await asyncio.sleep(rng.uniform(0, 3) / self.speed)
        while True:
            await self._run_job(name, api_url)
            if self.once:
                return
            await asyncio.sleep(rng.uniform(3, 8) / self.speed)

    async def _stop_children(self) -> None:
        for process in list(self.children):
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        for process in list(self.children):
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()

    async def run(self) -> int:
        server = SidecarServer(self.settings)
        api = FakeApi().start()
        serving = asyncio.create_task(server.serve(), name="sidecar")
        try:
            while not server.started:
                if serving.done():
                    return 1
                await asyncio.sleep(0.05)
            self.banner()
            rng = random.Random()
            loops = asyncio.gather(*(self._job_loop(name, api.url, rng) for name in JOBS))
            stop_after = asyncio.create_task(asyncio.sleep(self.duration if self.duration else 1e9))
            done, _ = await asyncio.wait({serving, loops, stop_after}, return_when=asyncio.FIRST_COMPLETED)
            if loops not in done:
                loops.cancel()
            await self._stop_children()
            if loops in done and self.once:
                _say(f"all demo jobs ran once: {self._summary()}")
            server.begin_shutdown()
            await serving
            stop_after.cancel()
        finally:
            api.stop()
            shutil.rmtree(self.workdir, ignore_errors=True)
        return 0

    def _summary(self) -> str:
        return ", ".join(f"{name}: exit {code}" for name, code in self.results)


def run_demo(settings: Settings, *, speed: float = 1.0, once: bool = False, duration: float | None = None) -> int:
    """Serve the sidecar and run demo jobs until Ctrl+C, ``duration`` seconds, or (``once``) all ran."""
    return asyncio.run(DemoRunner(settings, speed=speed, once=once, duration=duration).run())
