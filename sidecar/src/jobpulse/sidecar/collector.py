"""How the sidecar's process runs Python's cyclic garbage collector.

A sidecar holds many long-lived objects (every job's state, the feed's replay ring, each client's
queue) and makes many short-lived ones per event. With CPython's default thresholds a full
collection walks all of the long-lived ones again and again, and each walk stalls the event loop
that answers OTLP requests and feeds clients: the tail of the live feed's latency. The sidecar's
objects rarely form cycles (they are freed by reference counting), so collections can be rarer, and
what exists once start-up is done (modules, the app, restored jobs) is moved out of the collector's
sight for good (docs/benchmarks.md, "The collector").
"""

from __future__ import annotations

import gc

# Allocations (minus frees) before a young collection; the default is 700.
YOUNG_THRESHOLD = 50_000


def collect_rarely() -> None:
    """Raise the youngest generation's threshold, keeping the older ones' ratios."""
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)


def freeze_what_start_up_made() -> None:
    """Collect once, then keep everything alive now out of every later collection."""
    gc.collect()
    gc.freeze()
