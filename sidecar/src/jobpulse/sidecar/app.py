"""create_app: the sidecar is a core and a list of features, each a Litestar plugin (plugin.py)."""

from __future__ import annotations

from litestar import Litestar
from litestar.exceptions import ValidationException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin

from jobpulse.sidecar import __version__
from jobpulse.sidecar.alerting.plugin import AlertingFeature
from jobpulse.sidecar.api.errors import validation_error_handler
from jobpulse.sidecar.api.health import healthz, readyz
from jobpulse.sidecar.api.requests import SidecarRequest
from jobpulse.sidecar.auth.plugin import AuthFeature
from jobpulse.sidecar.bus.plugin import BusFeature
from jobpulse.sidecar.config.plugin import ConfigFeature
from jobpulse.sidecar.console.plugin import ConsoleFeature
from jobpulse.sidecar.control.plugin import ControlFeature
from jobpulse.sidecar.feed.plugin import FeedFeature
from jobpulse.sidecar.guard.plugin import GuardFeature
from jobpulse.sidecar.history.plugin import HistoryFeature
from jobpulse.sidecar.ingest.plugin import IngestFeature
from jobpulse.sidecar.jobs.plugin import JobsFeature
from jobpulse.sidecar.metrics.plugin import MetricsFeature
from jobpulse.sidecar.plugin import Core, Feature
from jobpulse.sidecar.schedules.plugin import SchedulesFeature
from jobpulse.sidecar.settings import Settings, Sources
from jobpulse.sidecar.storage.plugin import StorageFeature


def features(core: Core) -> list[Feature]:
    """The sidecar's features, in the order they start; they stop in reverse.

    The guard comes first so its request hooks see every request. Storage is migrated first and closed
    last; authentication starts on the migrated token tables; configuration applies the runtime changes
    stored in the database before the features it reconfigures start; history restores memory before
    anything else runs; schedules read their last runs from history and are judged by alerting; the
    bus, when there is one, folds the stream on top of history before ingest takes requests; ingest's
    lost-job detector starts last and stops first. Listeners are called in the order the features are
    built: the feed hears a job change before alerting publishes an alert about it.
    """
    feed = FeedFeature(core)
    history = HistoryFeature(core)
    schedules = SchedulesFeature(core)
    bus = BusFeature(core, feed.hub)
    ingest = IngestFeature(core, bus.bus.publish if bus.bus is not None else None)
    guard = GuardFeature(core, feed.admission)
    return [
        guard,
        StorageFeature(core),
        AuthFeature(core, throttle=guard.limiter.check_address),
        ConfigFeature(core),
        history,
        schedules,
        AlertingFeature(core, feed.hub, ingest.ingestor.stats, schedules.book),
        ControlFeature(core, history.service),
        feed,
        bus,
        JobsFeature(core),
        ingest,
        MetricsFeature(core),
        ConsoleFeature(core),
    ]


def create_app(settings: Settings | Sources | None = None) -> Litestar:
    """Build the sidecar application from ``settings`` (defaults when None), or from the sources they
    were loaded from (then the settings file is read again on SIGHUP and when it changes)."""
    core = Core(settings or Settings())
    return Litestar(
        route_handlers=[healthz, readyz],
        plugins=[core, *features(core)],
        exception_handlers={ValidationException: validation_error_handler, 500: core.errors.http_handler},
        after_exception=[core.errors.after_exception],
        request_class=SidecarRequest,
        openapi_config=OpenAPIConfig(
            title="jobpulse sidecar",
            version=__version__,
            description="Live state, history and control of ETL and batch jobs.",
            # The JSON document only: Litestar's HTML viewers load their scripts from a CDN.
            render_plugins=[JsonRenderPlugin()],
        ),
    )
