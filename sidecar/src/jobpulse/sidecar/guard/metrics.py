"""GuardCollector: refusals by the rate limits and the feed's connection caps, read at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from jobpulse.sidecar.guard.connections import FeedAdmission
from jobpulse.sidecar.guard.ratelimit import RateLimiter


class GuardCollector(Collector):
    """Register with ``registry.register(GuardCollector(...))``."""

    def __init__(self, admission: FeedAdmission, limiter: RateLimiter) -> None:
        self.admission = admission
        self.limiter = limiter

    def collect(self) -> Iterator[Metric]:
        refused = CounterMetricFamily(
            "jobpulse_sidecar_rate_limited_requests", "Requests answered 429 by a rate limit.", labels=["budget"]
        )
        for budget, count in sorted(self.limiter.refused.items()):
            refused.add_metric([budget], count)
        yield refused
        yield CounterMetricFamily(
            "jobpulse_sidecar_rate_limit_storage_errors",
            "Requests let through because the rate-limit storage failed.",
            value=self.limiter.counter.storage_errors,
        )
        yield GaugeMetricFamily(
            "jobpulse_sidecar_feed_connections_open",
            "Live-feed connections admitted and open.",
            value=self.admission.open,
        )
        caps = CounterMetricFamily(
            "jobpulse_sidecar_feed_connections_refused", "Live-feed handshakes refused by a cap.", labels=["limit"]
        )
        for limit, count in sorted(self.admission.refused.items()):
            caps.add_metric([limit], count)
        yield caps
