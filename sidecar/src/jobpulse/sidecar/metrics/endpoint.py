"""``GET /metrics``: Prometheus text format, or OpenMetrics (with exemplars) when the Accept header asks."""

from __future__ import annotations

from litestar import Request, Response, get

from jobpulse.sidecar.metrics.registry import SidecarMetrics


@get(
    "/metrics",
    tags=["metrics"],
    summary="Prometheus metrics (text format, or OpenMetrics with exemplars on request)",
    description="Rendered from the job state at scrape time; see docs/metrics.md for every metric.",
)
async def metrics_endpoint(request: Request) -> Response[bytes]:
    metrics: SidecarMetrics = request.app.state.metrics
    body, content_type = await metrics.render_async(request.headers.get("accept"))
    return Response(body, media_type=content_type, headers={"Cache-Control": "no-store"})
