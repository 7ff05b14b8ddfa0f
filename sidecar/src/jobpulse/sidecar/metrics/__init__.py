"""Prometheus metrics of the sidecar: rendered from the JobStore at scrape time (docs/metrics.md).

- :mod:`.finished` keeps the counters and histograms over *finished* jobs: a store listener that acts
  once per job end (never per event), with the trace id as exemplar.
- :mod:`.active` renders jobs-by-status and the per-active-job gauges straight from the store when
  Prometheus scrapes: ingest does no metric work for them, and a job's series vanish when it ends.
- :mod:`.sidecar` reads the sidecar's own counters (fold, listener failures, fold lag, server errors) at
  scrape time; each feature brings a collector of its own figures (``Feature.collectors``).
- :mod:`.exposition` ties them together in :class:`SidecarMetrics`, whose ``registry`` the features'
  collectors are registered with; :mod:`.endpoint` serves ``GET /metrics``; :mod:`.plugin` is the
  feature.
"""

from jobpulse.sidecar.metrics.exposition import SidecarMetrics

__all__ = ["SidecarMetrics"]
