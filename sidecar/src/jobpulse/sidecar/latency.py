"""Latency histograms the sidecar keeps about itself, and the figures alert rules take from them.

An observation is a bisect and two adds on plain lists: they are observed on the event loop only
(one thread), so they need none of the locking a prometheus-client Histogram does on every call.
``/metrics`` renders them at scrape time; the alert rules read what was observed over a sliding
window (:class:`Window`) and take its quantile the way PromQL's ``histogram_quantile`` does.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from collections.abc import Sequence

INF = float("inf")

# Seconds: from a few milliseconds (a feed tick is 20 ms) to the tens of seconds of a sidecar that
# has fallen far behind.
LATENCY_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, INF)


class Histogram:
    """Counts of observations per bucket (not cumulative) and their sum."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        if not bounds or bounds[-1] != INF:
            raise ValueError("the last bucket bound must be +Inf")
        self.bounds = bounds
        self.counts = [0] * len(bounds)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        # A bucket holds the values up to and including its bound, as Prometheus's "le" says.
        self.counts[bisect_left(self.bounds, seconds)] += 1
        self.total += seconds

    @property
    def count(self) -> int:
        return sum(self.counts)

    def cumulative(self) -> list[tuple[str, int]]:
        """(``le`` label, observations up to it), for a Prometheus histogram family."""
        buckets = []
        running = 0
        for bound, count in zip(self.bounds, self.counts, strict=True):
            running += count
            buckets.append(("+Inf" if bound == INF else repr(bound), running))
        return buckets


def merged_counts(histograms: Sequence[Histogram]) -> tuple[int, ...]:
    """The bucket counts of histograms with the same bounds, added up."""
    if not histograms:
        return ()
    return tuple(sum(column) for column in zip(*(histogram.counts for histogram in histograms), strict=True))


def quantile(bounds: tuple[float, ...], counts: Sequence[int], q: float) -> float | None:
    """The ``q`` quantile of observations counted per bucket, interpolated linearly within its bucket
    as ``histogram_quantile`` does (the +Inf bucket answers with the highest finite bound). None
    without observations."""
    total = sum(counts)
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    lower = 0.0
    for bound, count in zip(bounds, counts, strict=True):
        if count and seen + count >= rank:
            if bound == INF:
                return lower
            return lower + (bound - lower) * (rank - seen) / count
        seen += count
        if bound != INF:
            lower = bound
    return lower


class Window:
    """What a growing set of counters gained over (at least) the last ``span_ns``, from snapshots
    taken when the caller likes (the alert ticker's tick)."""

    def __init__(self, span_ns: int) -> None:
        self.span_ns = span_ns
        self._snapshots: deque[tuple[int, tuple[float, ...]]] = deque()

    def add(self, now_ns: int, values: tuple[float, ...]) -> tuple[float, ...]:
        """Record ``values`` at ``now_ns``; return how much each grew since the window's start."""
        snapshots = self._snapshots
        snapshots.append((now_ns, values))
        # Keep the newest snapshot that is at least a span old: the window then covers a whole span.
        while len(snapshots) > 1 and snapshots[1][0] <= now_ns - self.span_ns:
            snapshots.popleft()
        start = snapshots[0][1]
        if len(start) != len(values):
            return values
        return tuple(new - old for new, old in zip(values, start, strict=True))
