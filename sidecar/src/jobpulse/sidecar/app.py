"""create_app: the one place where the sidecar's parts are built and wired together."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import ValidationException
from litestar.openapi import OpenAPIConfig

from jobpulse.sidecar import __version__
from jobpulse.sidecar.alerting.api import AlertsController, NotificationsController
from jobpulse.sidecar.alerting.metrics import AlertingCollector
from jobpulse.sidecar.alerting.retention import expire_alerts
from jobpulse.sidecar.alerting.service import Alerting
from jobpulse.sidecar.alerting.webhook import AlertmanagerController
from jobpulse.sidecar.api.analytics import AnalyticsController
from jobpulse.sidecar.api.errors import validation_error_handler
from jobpulse.sidecar.api.failures import ServerErrors
from jobpulse.sidecar.api.health import healthz, readyz
from jobpulse.sidecar.api.jobs import JobsController
from jobpulse.sidecar.api.monitor import MonitorController
from jobpulse.sidecar.api.requests import SidecarRequest
from jobpulse.sidecar.config.live import LiveSettings
from jobpulse.sidecar.config.plugin import ConfigPlugin
from jobpulse.sidecar.config.service import ConfigService
from jobpulse.sidecar.control.api import ControlController
from jobpulse.sidecar.control.service import ControlService
from jobpulse.sidecar.feed.hub import FeedHub
from jobpulse.sidecar.feed.socket import live_feed
from jobpulse.sidecar.history.api import DeadLettersController
from jobpulse.sidecar.history.service import History
from jobpulse.sidecar.ingest.receiver import Ingestor, OtlpController
from jobpulse.sidecar.lost_jobs import LostJobDetector
from jobpulse.sidecar.metrics import SidecarMetrics
from jobpulse.sidecar.metrics.endpoint import metrics_endpoint
from jobpulse.sidecar.model.fold import FoldLimits
from jobpulse.sidecar.settings import Settings, Sources
from jobpulse.sidecar.store import JobStore


def create_app(settings: Settings | Sources | None = None) -> Litestar:
    """Build the sidecar application from ``settings`` (defaults when None), or from the sources they
    were loaded from (then the settings file is read again on SIGHUP and when it changes)."""
    sources = settings if isinstance(settings, Sources) else Sources.of(settings or Settings())
    settings = sources.settings
    live = LiveSettings(settings)
    store = JobStore(
        limits=FoldLimits(recent_logs=settings.recent_logs_per_job),
        finished_capacity=settings.finished_jobs_in_memory,
    )
    hub = FeedHub(
        store,
        tick_s=settings.feed_tick_ms / 1000,
        replay_messages=settings.feed_replay_messages,
        queue_frames=settings.feed_client_queue_frames,
        max_lag_s=settings.feed_client_max_lag_s,
        send_timeout_s=settings.feed_send_timeout_s,
        ack_timeout_s=settings.control_ack_timeout_s,
    )
    ingestor = Ingestor(store, settings.max_request_bytes)
    history = History(
        settings.database_url,
        store,
        flush_interval_s=settings.history_flush_interval_s,
        max_pending_lines=settings.history_max_pending_lines,
        policy=settings.retention_policy(),
        sweep_interval_s=settings.retention_sweep_interval_s,
    )
    detector = LostJobDetector(
        store, settings.heartbeat_window_s, settings.lost_check_interval_s, settings.restart_grace_s
    )
    alerting = Alerting(settings.alerting, store, history.engine, hub)
    history.sweeper.register(expire_alerts)
    control = ControlService(store, history.engine, history.get_state)
    # Prometheus /metrics: any subsystem adds its collector with metrics.registry.register(...).
    errors = ServerErrors()
    metrics = SidecarMetrics(store, ingestor=ingestor, hub=hub, writer=history.writer, errors=errors)
    metrics.register(AlertingCollector(alerting.engine))
    # Live settings: every part takes a change at once, without a restart.
    for part in (store, hub, ingestor, history, detector, control):
        live.subscribe(part.reconfigure)
    live.subscribe(lambda new: alerting.reconfigure(new.alerting))
    config = ConfigService(live, sources, history.engine)

    async def feed_running() -> str:
        return "ok" if hub.running else "feed not running"

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await history.start()
        await alerting.start()
        await hub.start()
        await detector.start()
        try:
            yield
        finally:
            await detector.stop()
            await hub.stop()
            await control.stop()
            await alerting.stop()
            await history.stop()

    def provide(value: object) -> Provide:
        return Provide(lambda: value, use_cache=True, sync_to_thread=False)

    return Litestar(
        route_handlers=[
            OtlpController,
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
            metrics_endpoint,
        ],
        dependencies={
            "store": provide(store),
            "hub": provide(hub),
            "ingestor": provide(ingestor),
            "history": provide(history),
            "control": provide(control),
            "alert_engine": provide(alerting.engine),
            "settings": Provide(lambda: live.current, sync_to_thread=False),
        },
        plugins=[ConfigPlugin(config)],
        state=State(
            {
                "live_settings": live,
                "store": store,
                "hub": hub,
                "ingestor": ingestor,
                "detector": detector,
                "history": history,
                "control": control,
                "metrics": metrics,
                "errors": errors,
                "metrics_registry": metrics.registry,
                "alerting": alerting,
                "readiness_checks": {"feed": feed_running, "history": history.check, "alerting": alerting.check},
                "readiness_details": {"history": history.readiness_detail},
            }
        ),
        lifespan=[lifespan, metrics.lifespan],
        exception_handlers={ValidationException: validation_error_handler, 500: errors.http_handler},
        after_exception=[errors.after_exception],
        request_class=SidecarRequest,
        openapi_config=OpenAPIConfig(
            title="jobpulse sidecar",
            version=__version__,
            description="Live state, history and control of ETL and batch jobs.",
        ),
    )
