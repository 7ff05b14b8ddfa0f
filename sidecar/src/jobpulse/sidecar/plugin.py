"""How the sidecar is put together: a ``Core`` every feature is built with, and ``Feature``, the Litestar
plugin each feature is.

A feature brings all it needs into the app: its routes, the objects its routes depend on (Litestar
dependencies, each registered once, by the feature that owns it), a lifespan made of its ``start()``
and ``stop()``, its readiness check, its Prometheus collectors and the parts of the storage sweep it
owns. ``create_app`` lists the features in the order they start; Litestar stops them in reverse.

Settings change while the app runs: a feature subscribes what it builds from them to ``core.live``.

Whatever needs a feature's objects outside a request (the server at shutdown, tests) looks the feature
up by its type in the app's plugin registry: ``app.plugins.get(FeedFeature).hub``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any, ClassVar

from litestar import Litestar
from litestar.config.app import AppConfig
from litestar.di import Provide
from litestar.exceptions import ImproperlyConfiguredException
from litestar.plugins import InitPlugin
from litestar.types import ControllerRouterHandler
from prometheus_client.registry import Collector

from jobpulse.sidecar.api.failures import ServerErrors
from jobpulse.sidecar.api.nul import refuse_nul_parameters
from jobpulse.sidecar.config.live import LiveSettings
from jobpulse.sidecar.model.fold import FoldLimits
from jobpulse.sidecar.settings import Settings, Sources
from jobpulse.sidecar.storage.engine import create_engine
from jobpulse.sidecar.storage.retention import RetentionPart
from jobpulse.sidecar.store import JobStore


def _constant(value: object) -> Provide:
    def dependency() -> object:
        return value

    return Provide(dependency, use_cache=True, sync_to_thread=False)


def provide(app_config: AppConfig, dependencies: dict[str, object]) -> None:
    """Register each object as the Litestar dependency of its name (a ``Provide`` as it is, anything else
    as a constant); a name taken twice is an error."""
    for key, value in dependencies.items():
        if key in app_config.dependencies:
            raise ImproperlyConfiguredException(f"two plugins provide the dependency {key!r}")
        app_config.dependencies[key] = value if isinstance(value, Provide) else _constant(value)


class Core(InitPlugin):
    """What every feature is built with, once per app: the settings in force (``live``), the job store,
    the database engine (the storage feature migrates it at start and closes it at stop) and the record
    of server errors. Provides ``settings`` (the ones in force at each request) and ``store`` to route
    handlers.

    Settings change while the app runs (the config feature replaces them whole): a component that copies
    a setting at construction subscribes to ``live`` there, next to where it is built, and takes every
    new Settings; one that reads ``settings`` at use needs nothing.
    """

    def __init__(self, settings: Settings | Sources) -> None:
        self.sources = settings if isinstance(settings, Sources) else Sources.of(settings)
        self.live = LiveSettings(self.sources.settings)
        settings = self.sources.settings
        self.store = JobStore(
            limits=FoldLimits(recent_logs=settings.recent_logs_per_job),
            finished_capacity=settings.finished_jobs_in_memory,
        )
        self.live.subscribe(self.store.reconfigure)
        self.database = create_engine(settings.database_url)
        self.errors = ServerErrors()

    @property
    def settings(self) -> Settings:
        """The settings in force now."""
        return self.live.current

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        live = self.live

        def current_settings() -> Settings:
            return live.current

        provide(
            app_config,
            {"settings": Provide(current_settings, sync_to_thread=False), "store": self.store},
        )
        # The core is the first plugin: features that add a check of their own run it before this one.
        app_config.before_request = refuse_nul_parameters
        return app_config


class Feature(InitPlugin):
    """One feature of the sidecar. Subclasses declare what they bring by overriding what they need.

    Components that react to job changes subscribe to the store in their own constructors, so a
    feature's listeners exist as soon as the feature does, in the order the features are built.
    """

    name: ClassVar[str]
    """The feature's name: the key of its readiness check in ``/readyz``."""

    retention_parts: ClassVar[tuple[RetentionPart, ...]] = ()
    """The parts of the storage sweep this feature owns (its tables' expiry), run by the sidecar's
    sweeper and by ``jobpulse prune``."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def route_handlers(self) -> list[ControllerRouterHandler]:
        """The feature's routes."""
        return []

    def dependencies(self) -> dict[str, object]:
        """Objects the feature's (and other features') route handlers take by name."""
        return {}

    def collectors(self) -> list[Collector]:
        """Prometheus collectors for ``/metrics``."""
        return []

    async def start(self) -> None:
        """Start background work; the features listed before this one have started."""

    async def stop(self) -> None:
        """Stop background work; the features listed after this one have stopped."""

    async def ready(self) -> str | None:
        """Readiness: ``"ok"``, or why not; None when the feature has nothing to check."""
        return None

    def readiness_detail(self) -> str | None:
        """Something worth knowing in ``/readyz`` that does not make the sidecar unready."""
        return None

    def shutting_down(self) -> None:
        """The server has begun to shut down and waits for requests in flight: end long ones now."""

    @asynccontextmanager
    async def lifespan(self, _app: Litestar) -> AsyncIterator[None]:
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.route_handlers.extend(self.route_handlers())
        provide(app_config, self.dependencies())
        app_config.lifespan.append(self.lifespan)
        return app_config


def features_in(plugins: Iterable[Any]) -> list[Feature]:
    """The features among ``plugins``, in their order."""
    return [plugin for plugin in plugins if isinstance(plugin, Feature)]


def features_of(app: Litestar) -> list[Feature]:
    """The app's features, in the order they start."""
    return features_in(app.plugins.init)


def retention_parts(features: Iterable[Feature]) -> list[RetentionPart]:
    """What one storage sweep runs: every feature's retention parts, in the features' order."""
    return [part for feature in features for part in feature.retention_parts]
