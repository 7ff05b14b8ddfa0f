"""The guard feature: installs the rate limits, CORS and security headers, and reports the feed's connection caps."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.config.app import AppConfig
from litestar.types import BeforeRequestHookHandler
from litestar.utils import ensure_async_callable
from prometheus_client.registry import Collector

from jobpulse.sidecar.guard.connections import FeedAdmission
from jobpulse.sidecar.guard.cors import LiveCors
from jobpulse.sidecar.guard.headers import add_security_headers
from jobpulse.sidecar.guard.metrics import GuardCollector
from jobpulse.sidecar.guard.openapi import declare_rate_limits
from jobpulse.sidecar.guard.ratelimit import RateLimiter
from jobpulse.sidecar.guard.rates import Budget, open_counter
from jobpulse.sidecar.plugin import Core, Feature
from jobpulse.sidecar.settings import Settings

INGEST_ROUTES = ("/v1/logs", "/v1/traces", "/api/control/poll")
"""What senders call: the OTLP receiver and the job side's control long poll."""

EXEMPT_ROUTES = ("/healthz", "/readyz", "/metrics")
"""Probes and scrapes: never limited, so an overloaded client cannot make the sidecar look down."""


class GuardFeature(Feature):
    """Everything docs/security.md lists under "Limits", from the core's settings; the connection caps
    themselves are counted by ``admission``, which the feed asks before it accepts a client."""

    name = "guard"

    def __init__(self, core: Core, admission: FeedAdmission) -> None:
        super().__init__(core)
        self.admission = admission
        settings = core.settings
        self.storage_url = settings.rate_limit_storage_url
        # Always in place, so that limits turned on while the sidecar runs apply at once.
        self.limiter = RateLimiter(
            open_counter(self.storage_url),
            *_budgets(settings),
            ingest_routes=INGEST_ROUTES,
            exempt_routes=EXEMPT_ROUTES,
            enabled=settings.rate_limit_enabled,
        )
        self.cors = LiveCors(settings.cors_allowed_origins)
        core.live.subscribe(self._reconfigure)

    async def _reconfigure(self, settings: Settings) -> None:
        self.limiter.enabled = settings.rate_limit_enabled
        if (settings.rate_limit_rest, settings.rate_limit_ingest) != (self.limiter.rest.rate, self.limiter.ingest.rate):
            self.limiter.set_budgets(*_budgets(settings))
        if settings.rate_limit_storage_url != self.storage_url:
            await self._move_counts(settings.rate_limit_storage_url)
        self.cors.reconfigure(settings.cors_allowed_origins)

    async def _move_counts(self, storage_url: str) -> None:
        """Count in ``storage_url`` from the next request. Counts are not carried over: the new storage's
        windows start afresh (or are the ones other replicas already share there)."""
        previous = self.limiter.counter
        counter = open_counter(storage_url)
        # jobpulse_sidecar_rate_limit_storage_errors_total counts on across the move.
        counter.storage_errors = previous.storage_errors
        self.limiter.counter, self.storage_url = counter, storage_url
        await previous.close()

    def collectors(self) -> list[Collector]:
        return [GuardCollector(self.admission, self.limiter)]

    async def stop(self) -> None:
        await self.limiter.counter.close()

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.before_request = _before_request(self.limiter, app_config.before_request)
        app_config.on_startup.append(declare_rate_limits(EXEMPT_ROUTES))
        app_config.before_send.append(add_security_headers)
        # In front of the app's request handling once it is built (guard/cors.py).
        app_config.on_startup.append(self.cors.install)
        return super().on_app_init(app_config)


def _budgets(settings: Settings) -> tuple[Budget, Budget]:
    """The REST and ingest budgets ``settings`` give."""
    return (
        Budget("rest", "rate_limit_rest", settings.rate_limit_rest),
        Budget("ingest", "rate_limit_ingest", settings.rate_limit_ingest),
    )


def _before_request(limiter: RateLimiter, previous: BeforeRequestHookHandler | None) -> BeforeRequestHookHandler:
    """The app's ``before_request`` hook: the limiter, then any hook the app already had."""
    if previous is None:
        return limiter.check
    then = ensure_async_callable(previous)

    async def check_then_previous(request: Request[Any, Any, Any]) -> Any:
        return await limiter.check(request) or await then(request)

    return check_then_previous
