"""The sidecar's own metrics, read at scrape time from the counters its core already keeps.

The store counts what it folds in plain integer attributes (an add each, no metric objects on the hot
path); this collector turns them into metric families when Prometheus asks. Each feature registers a
collector of its own figures the same way (ingest, feed, history, alerting).

Fold lag comes from :class:`LoopLagProbe`: ingest folds on the event loop's turn of the request, so how
long ready work waits for the loop is how far folding lags behind arrival.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from jobpulse.sidecar import __version__
from jobpulse.sidecar.api.failures import ServerErrors
from jobpulse.sidecar.metrics.families import gauge
from jobpulse.sidecar.store import JobStore
from jobpulse.sidecar.tasks import BackgroundTasks


class LoopLagProbe:
    """Measures how late the event loop runs a timer: the delay work (and so each fold) waits for it."""

    def __init__(self, interval_s: float = 0.25, window: int = 40) -> None:
        self.interval_s = interval_s
        self._lags: deque[float] = deque(maxlen=window)
        self._tasks = BackgroundTasks()

    @property
    def lag_seconds(self) -> float:
        """The longest lag over the window (``interval_s`` x ``window``: 10 s by default)."""
        return max(self._lags, default=0.0)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(self.interval_s)
            self._lags.append(max(loop.time() - started - self.interval_s, 0.0))

    async def start(self) -> None:
        if not self._tasks.running:
            self._tasks.spawn(self._run(), "loop-lag-probe")

    async def stop(self) -> None:
        await self._tasks.cancel()


class SidecarCollector(Collector):
    """Version, jobs in memory, fold, listener failures, fold lag, server errors and render time."""

    def __init__(
        self,
        store: JobStore,
        probe: LoopLagProbe,
        render_seconds: Callable[[], float] | None = None,
        errors: ServerErrors | None = None,
    ) -> None:
        self.store = store
        self.probe = probe
        self.render_seconds = render_seconds
        self.errors = errors

    def collect(self) -> Iterator[Any]:
        info = GaugeMetricFamily("jobpulse_sidecar_info", "The sidecar's version (value 1).", labels=["version"])
        info.add_metric([__version__], 1)
        yield info
        yield gauge(
            "jobpulse_sidecar_jobs_in_memory", "Jobs held in memory (active and recently finished).", len(self.store)
        )

        store = self.store
        folded = CounterMetricFamily(
            "jobpulse_sidecar_fold_events",
            "Events folded into job state (the sidecar's own lost marks included), by result.",
            labels=["result"],
        )
        folded.add_metric(["applied"], store.events_applied)
        folded.add_metric(["unchanged"], store.events_unchanged)
        folded.add_metric(["late"], store.events_late)
        yield folded
        failures = CounterMetricFamily(
            "jobpulse_sidecar_listener_failures",
            "Job changes a store listener raised on (logged; the other listeners still had them), by listener.",
            labels=["listener"],
        )
        for name, count in sorted(store.listener_failures.items()):
            failures.add_metric([name], count)
        yield failures
        yield gauge(
            "jobpulse_sidecar_fold_lag_seconds",
            "Longest wait of ready work for the event loop over the last 10 s: how far folding lags arrival.",
            self.probe.lag_seconds,
        )

        if self.errors is not None:
            failed = CounterMetricFamily(
                "jobpulse_sidecar_http_errors",
                "Requests and WebSocket connections whose handler raised an unhandled exception (answered 500, "
                "or closed with 4500/1011), by route template and method (WEBSOCKET for the live feed).",
                labels=["route", "method"],
            )
            for (route, method), count in sorted(self.errors.counts.items()):
                failed.add_metric([route, method], count)
            yield failed

        if self.render_seconds is not None:
            yield gauge(
                "jobpulse_sidecar_metrics_render_seconds",
                "Time the previous /metrics response took to render.",
                self.render_seconds(),
            )
