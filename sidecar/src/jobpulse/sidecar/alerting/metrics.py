"""AlertingCollector: Prometheus metrics of alerting, read from the engine at scrape time.

Nothing is counted twice: the engine and the channels keep plain integers, and the collector turns
them into metric families when scraped. Labels are bounded (rules, severities, configured channels).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from jobpulse.sidecar.alerting.engine import AlertEngine


class AlertingCollector(Collector):
    """Register with ``registry.register(AlertingCollector(engine))``."""

    def __init__(self, engine: AlertEngine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        firing = GaugeMetricFamily("jobpulse_alerts_firing", "Alerts firing now.", labels=["rule", "severity"])
        for (rule, severity), count in sorted(self.engine.firing_counts().items()):
            firing.add_metric([rule, severity], count)
        yield firing
        yield CounterMetricFamily("jobpulse_alerts_fired", "Alerts fired since start.", value=self.engine.fired_total)
        yield CounterMetricFamily(
            "jobpulse_alerts_resolved", "Alerts resolved since start.", value=self.engine.resolved_total
        )
        channels = self.engine.delivery.channels
        for name, documentation, attribute in (
            ("jobpulse_alert_notifications_sent", "Notifications a channel accepted.", "sent"),
            ("jobpulse_alert_notifications_failed", "Notifications that failed after every attempt.", "failed"),
            (
                "jobpulse_alert_notifications_dropped",
                "Notifications dropped because the channel's queue was full.",
                "dropped",
            ),
        ):
            family = CounterMetricFamily(name, documentation, labels=["channel"])
            for channel in channels:
                family.add_metric([channel.name], getattr(channel, attribute))
            yield family
        queued = GaugeMetricFamily(
            "jobpulse_alert_notifications_queued", "Notifications waiting per channel.", labels=["channel"]
        )
        for channel in channels:
            queued.add_metric([channel.name], channel.queued)
        yield queued
