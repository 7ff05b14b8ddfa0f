"""create_app: the one place where the sidecar's parts are built and wired together."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import ValidationException
from litestar.openapi import OpenAPIConfig

from jobpulse.sidecar.alerting.api import AlertsController, NotificationsController
from jobpulse.sidecar.alerting.metrics import AlertingCollector
from jobpulse.sidecar.alerting.retention import expire_alerts
from jobpulse.sidecar.alerting.service import Alerting
from jobpulse.sidecar.alerting.webhook import AlertmanagerController
from jobpulse.sidecar.api.analytics import AnalyticsController
from jobpulse.sidecar.api.errors import validation_error_handler
from jobpulse.sidecar.api.health import healthz, readyz
from jobpulse.sidecar.api.jobs import JobsController
from jobpulse.sidecar.api.monitor import MonitorController
from jobpulse.sidecar.api.requests import SidecarRequest
from jobpulse.sidecar.control.api import ControlController
from jobpulse.sidecar.control.service import ControlService
from jobpulse.sidecar.feed.hub import FeedHub
from jobpulse.sidecar.feed.metrics import FeedCollector
from jobpulse.sidecar.feed.socket import live_feed
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
    hub = FeedHub(
        store,
        tick_s=settings.feed_tick_ms / 1000,
        replay_messages=settings.feed_replay_messages,
        queue_frames=settings.feed_client_queue_frames,
        max_lag_s=settings.feed_client_max_lag_s,
        send_timeout_s=settings.feed_send_timeout_s,
        ack_timeout_s=settings.control_ack_timeout_s,
    )
    history = History(
        settings.database_url,
        store,
        flush_interval_s=settings.history_flush_interval_s,
        max_pending_lines=settings.history_max_pending_lines,
        policy=settings.retention_policy(),
        sweep_interval_s=settings.retention_sweep_interval_s,
    )
    alerting = Alerting(settings.alerting, store, history.engine, hub)
    history.sweeper.register(expire_alerts)
    control = ControlService(store, history.engine, history.get_state)
    metrics = MetricsFeature(core)
    for collector in (FeedCollector(hub), HistoryCollector(history.writer)):
        metrics.metrics.register(collector)
    metrics.metrics.register(AlertingCollector(alerting.engine))

    async def feed_running() -> str:
        return "ok" if hub.running else "feed not running"

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await history.start()
        await alerting.start()
        await hub.start()
        try:
            yield
        finally:
            await hub.stop()
            await control.stop()
            await alerting.stop()
            await history.stop()

    def provide(value: object) -> Provide:
        return Provide(lambda: value, use_cache=True, sync_to_thread=False)

    return Litestar(
        route_handlers=[
            JobsController,
            AnalyticsController,
            MonitorController,
            DeadLettersController,
            ControlController,
            AlertsController,
            NotificationsController,
            AlertmanagerController,
            live_feed,
            healthz,
            readyz,
        ],
        plugins=[core, IngestFeature(core), metrics],
        dependencies={
            "hub": provide(hub),
            "history": provide(history),
            "control": provide(control),
            "alert_engine": provide(alerting.engine),
        },
        state=State(
            {
                "settings": settings,
                "store": store,
                "hub": hub,
                "history": history,
                "control": control,
                "errors": core.errors,
                "alerting": alerting,
                "readiness_checks": {"feed": feed_running, "history": history.check, "alerting": alerting.check},
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
