"""``GET /metrics``: Prometheus text format, or OpenMetrics (with exemplars) when the Accept header asks."""

from __future__ import annotations

from litestar import Request, Response, get
from litestar.handlers import HTTPRouteHandler

from jobpulse.sidecar.api.openapi import TEXT, success_content
from jobpulse.sidecar.auth.roles import METRICS, access
from jobpulse.sidecar.metrics.exposition import OPENMETRICS, SidecarMetrics


def metrics_route(metrics: SidecarMetrics) -> HTTPRouteHandler:
    """The ``/metrics`` route, serving ``metrics``."""

    @get(
        "/metrics",
        tags=["metrics"],
        summary="Prometheus metrics (text format, or OpenMetrics with exemplars on request)",
        description="Rendered from the job state at scrape time; see docs/metrics.md for every metric.",
        operation_class=success_content({"text/plain": TEXT, OPENMETRICS: TEXT}),
        opt=access(METRICS),
    )
    async def metrics_endpoint(request: Request) -> Response[bytes]:
        body, content_type = await metrics.render_async(request.headers.get("accept"))
        # The header as prometheus-client writes it, version and charset included: given as a media
        # type, Litestar would append a second charset to a text/* type.
        return Response(body, headers={"Cache-Control": "no-store", "Content-Type": content_type})

    return metrics_endpoint
