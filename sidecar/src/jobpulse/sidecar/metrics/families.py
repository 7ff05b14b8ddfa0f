"""Metric families for collectors that turn a feature's plain counters and histograms into metrics."""

from __future__ import annotations

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from jobpulse.sidecar.latency import Histogram


def counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    """A counter without labels (``name`` without ``_total``: the exposition adds it)."""
    return CounterMetricFamily(name, documentation, value=value)


def gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    """A gauge without labels."""
    return GaugeMetricFamily(name, documentation, value=value)


def labelled_counter(name: str, documentation: str, label: str, counts: dict[str, int]) -> CounterMetricFamily:
    """A counter with one label: a sample per entry of ``counts``."""
    family = CounterMetricFamily(name, documentation, labels=[label])
    for value, count in sorted(counts.items()):
        family.add_metric([value], count)
    return family


def histogram(
    name: str, documentation: str, labels: list[str], histograms: list[tuple[list[str], Histogram]]
) -> HistogramMetricFamily:
    """A histogram family from the sidecar's own histograms (latency.py), one per set of label values."""
    family = HistogramMetricFamily(name, documentation, labels=labels)
    for values, observed in histograms:
        family.add_metric(values, observed.cumulative(), observed.total)
    return family
