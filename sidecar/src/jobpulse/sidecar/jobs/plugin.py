"""The jobs feature: the REST API over job state. It owns no objects: it reads the store (core) and
the history service (the history feature's ``history`` dependency)."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

from jobpulse.sidecar.jobs.analytics import AnalyticsController
from jobpulse.sidecar.jobs.api import JobsController
from jobpulse.sidecar.jobs.monitor import MonitorController
from jobpulse.sidecar.plugin import Feature


class JobsFeature(Feature):
    """``/api/jobs``, ``/api/analytics`` and ``/api/monitor/jobs``."""

    name = "jobs"

    def route_handlers(self) -> list[ControllerRouterHandler]:
        return [JobsController, AnalyticsController, MonitorController]
