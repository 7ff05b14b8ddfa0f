"""Single-sample metric families, for collectors that turn a feature's plain counters into metrics."""

from __future__ import annotations

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily


def counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    """A counter without labels (``name`` without ``_total``: the exposition adds it)."""
    return CounterMetricFamily(name, documentation, value=value)


def gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    """A gauge without labels."""
    return GaugeMetricFamily(name, documentation, value=value)
