"""create_app: the one place where the sidecar's parts are built and wired together."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import ValidationException
from litestar.openapi import OpenAPIConfig

from jobpulse.sidecar.alerting.plugin import AlertingFeature
from jobpulse.sidecar.api.analytics import AnalyticsController
from jobpulse.sidecar.api.errors import validation_error_handler
from jobpulse.sidecar.api.health import healthz, readyz
from jobpulse.sidecar.api.jobs import JobsController
from jobpulse.sidecar.api.monitor import MonitorController
from jobpulse.sidecar.api.requests import SidecarRequest
from jobpulse.sidecar.control.plugin import ControlFeature
from jobpulse.sidecar.feed.plugin import FeedFeature
from jobpulse.sidecar.history.api import DeadLettersController
from jobpulse.sidecar.history.metrics import HistoryCollector
from jobpulse.sidecar.history.service import History
from jobpulse.sidecar.ingest.plugin import IngestFeature
from jobpulse.sidecar.metrics.plugin import MetricsFeature
from jobpulse.sidecar.plugin import Core
from jobpulse.sidecar.settings import Settings


def create_app(settings: Settings | None = None) -> Litestar:
    """Build the sidecar application from ``settings`` (defaults when None)."""
    core = Core(settings or Settings())
    settings, store = core.settings, core.store
    feed = FeedFeature(core)
    history = History(
        settings.database_url,
        store,
        flush_interval_s=settings.history_flush_interval_s,
        max_pending_lines=settings.history_max_pending_lines,
        policy=settings.retention_policy(),
        sweep_interval_s=settings.retention_sweep_interval_s,
    )
    alerting = AlertingFeature(core, feed.hub, history.engine)
    for part in alerting.retention_parts:
        history.sweeper.register(part)
    metrics = MetricsFeature(core)
    metrics.metrics.register(HistoryCollector(history.writer))

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await history.start()
        try:
            yield
        finally:
            await history.stop()

    def provide(value: object) -> Provide:
        return Provide(lambda: value, use_cache=True, sync_to_thread=False)

    return Litestar(
        route_handlers=[
            JobsController,
            AnalyticsController,
            MonitorController,
            DeadLettersController,
            healthz,
            readyz,
        ],
        plugins=[core, alerting, ControlFeature(core, history), feed, IngestFeature(core), metrics],
        dependencies={
            "history": provide(history),
        },
        state=State(
            {
                "settings": settings,
                "store": store,
                "history": history,
                "errors": core.errors,
                "readiness_checks": {"feed": feed.ready, "history": history.check, "alerting": alerting.ready},
                "readiness_details": {"history": history.readiness_detail},
            }
        ),
        lifespan=[lifespan],
        exception_handlers={ValidationException: validation_error_handler, 500: core.errors.http_handler},
        after_exception=[core.errors.after_exception],
        request_class=SidecarRequest,
        openapi_config=OpenAPIConfig(
            title="jobpulse sidecar",
            version="0.1.0",
            description="Live state, history and control of ETL and batch jobs.",
        ),
    )
