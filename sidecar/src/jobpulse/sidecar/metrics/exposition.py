"""SidecarMetrics: the registry behind ``GET /metrics`` and how it is rendered.

``registry`` is a plain prometheus-client ``CollectorRegistry``: each feature's collectors are
registered with it (``Feature.collectors``), and Counter/Gauge objects may be created with
``registry=metrics.registry``. The per-active-job families are written by a dedicated renderer
(:mod:`.active`) and appended to the registry's output.

Rendering is split so the event loop is held only briefly: collectors run and the active jobs are
snapshotted on the loop (collectors may read state that only the loop mutates), and the text is
formatted in a worker thread from those immutable values.
"""

from __future__ import annotations

import asyncio
import copy
import re
import time
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from prometheus_client import CollectorRegistry, GCCollector, ProcessCollector
from prometheus_client.exposition import choose_encoder
from prometheus_client.openmetrics import exposition as openmetrics_exposition
from prometheus_client.registry import Collector

from jobpulse.sidecar.api.failures import ServerErrors
from jobpulse.sidecar.metrics.active import ActiveJobsRenderer
from jobpulse.sidecar.metrics.finished import FinishedJobMetrics
from jobpulse.sidecar.metrics.labels import LabelBudget
from jobpulse.sidecar.metrics.sidecar import LoopLagProbe, SidecarCollector
from jobpulse.sidecar.model.state import JobState
from jobpulse.sidecar.store import JobStore

OPENMETRICS = "application/openmetrics-text"
_EOF = b"# EOF\n"


_LEGACY_METRIC = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LEGACY_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def _legacy_names(families: list[Any]) -> bool:
    """Whether every metric and label name is a legacy (pre-UTF-8) Prometheus name."""
    if not all(_LEGACY_METRIC.fullmatch(family.name) for family in families):
        return False
    label_names = {name for family in families for sample in family.samples for name in sample.labels}
    return all(_LEGACY_LABEL.fullmatch(name) for name in label_names) and all(
        _LEGACY_METRIC.fullmatch(sample.name) for family in families for sample in family.samples[:1]
    )


def _version(content_type: str) -> str:
    for part in content_type.split(";"):
        key, _, value = part.strip().partition("=")
        if key == "version":
            return value
    return "1.0.0"


def _without_created(families: Iterable[Any]) -> list[Any]:
    """The families without their ``_created`` samples.

    prometheus-client adds a creation time to every counter and histogram child; in the text format
    it becomes a separate gauge series per child, which Prometheus stores but nothing here queries.
    """
    result = []
    for family in families:
        if family.type in ("counter", "histogram", "summary", "gaugehistogram"):
            samples = [sample for sample in family.samples if not sample.name.endswith("_created")]
            if len(samples) != len(family.samples):
                family = copy.copy(family)
                family.samples = samples
        result.append(family)
    return result


class _Collected:
    """Already-collected metric families, shaped like a registry for prometheus-client's encoders."""

    def __init__(self, families: list[Any]) -> None:
        self.families = families

    def collect(self) -> Iterable[Any]:
        return self.families


class SidecarMetrics:
    """Every Prometheus metric of one sidecar."""

    def __init__(
        self,
        store: JobStore,
        *,
        errors: ServerErrors | None = None,
        budget: LabelBudget | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
        process_metrics: bool = True,
    ) -> None:
        self.store = store
        self.clock_ns = clock_ns
        self.budget = budget or LabelBudget()
        self.registry = CollectorRegistry(auto_describe=True)
        self.finished = FinishedJobMetrics(self.registry, self.budget, clock_ns=clock_ns)
        store.add_listener(self.finished.on_change)
        self.active = ActiveJobsRenderer(store, self.budget, lambda: self.finished.known)
        self.probe = LoopLagProbe()
        self.last_render_seconds = 0.0
        self.registry.register(SidecarCollector(store, self.probe, lambda: self.last_render_seconds, errors))
        if process_metrics:
            ProcessCollector(registry=self.registry)
            # Collections per generation: the collector's pauses are the live feed's latency tail (collector.py).
            GCCollector(registry=self.registry)

    def register(self, collector: Collector) -> None:
        """Add a feature's collector (the same as ``registry.register``)."""
        self.registry.register(collector)

    def snapshot(self) -> tuple[list[Any], list[JobState], int]:
        """What a scrape shows, taken on the event loop: the collectors' families, the active jobs, the time."""
        return _without_created(self.registry.collect()), self.active.snapshot(), self.clock_ns()

    def encode(self, prepared: tuple[list[Any], list[JobState], int], accept: str | None) -> tuple[bytes, str]:
        """A snapshot as the exposition an ``Accept`` header asks for: (body, content type); any thread."""
        families, states, now_ns = prepared
        encoder, content_type = choose_encoder(accept or "")
        openmetrics = content_type.startswith(OPENMETRICS)
        if openmetrics and "escaping=underscores" in content_type and _legacy_names(families):
            # prometheus-client's OpenMetrics encoder escapes every sample's name character by character
            # for "underscores" escaping (about 15 us a sample). Names that are valid legacy names need
            # no escaping, so the utf-8 mode, which only escapes label values, writes the same bytes.
            encoder = partial(
                openmetrics_exposition.generate_latest,
                escaping=openmetrics_exposition.ALLOWUTF8,
                version=_version(content_type),
            )
        body = encoder(_Collected(families))
        active = self.active.render(states, now_ns, openmetrics=openmetrics).encode()
        if openmetrics and body.endswith(_EOF):
            body = body[: -len(_EOF)] + active + _EOF
        else:
            body += active
        return body, content_type

    def render(self, accept: str | None = None) -> tuple[bytes, str]:
        """The exposition for an ``Accept`` header, all on the calling thread: (body, content type)."""
        started = time.perf_counter()
        result = self.encode(self.snapshot(), accept)
        self.last_render_seconds = time.perf_counter() - started
        return result

    async def render_async(self, accept: str | None = None) -> tuple[bytes, str]:
        """The exposition, holding the event loop only to collect; formatting runs in a thread."""
        started = time.perf_counter()
        prepared = self.snapshot()
        result = await asyncio.to_thread(self.encode, prepared, accept)
        self.last_render_seconds = time.perf_counter() - started
        return result
