"""Samples of this process's resources, for `jobpulse.job.resources` records."""

from __future__ import annotations

import psutil

from jobpulse.conventions import (
    ATTR_CPU_UTILIZATION,
    ATTR_MEMORY_RSS,
    ATTR_MEMORY_VIRTUAL,
    ATTR_OPEN_FDS,
    ATTR_THREAD_COUNT,
)


class ResourceSampler:
    """Reads memory, CPU, threads and descriptors of the current process with psutil."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        # cpu_percent(None) reports usage since the previous call; the first call only starts the clock.
        self._process.cpu_percent(None)

    def sample(self) -> dict[str, int | float]:
        """One sample, keyed by the OpenTelemetry semantic attribute names."""
        process = self._process
        with process.oneshot():
            memory = process.memory_info()
            return {
                ATTR_MEMORY_RSS: memory.rss,
                ATTR_MEMORY_VIRTUAL: memory.vms,
                # psutil gives percent of one CPU; the convention wants a fraction of one CPU.
                ATTR_CPU_UTILIZATION: process.cpu_percent(None) / 100.0,
                ATTR_THREAD_COUNT: process.num_threads(),
                ATTR_OPEN_FDS: process.num_fds() if hasattr(process, "num_fds") else process.num_handles(),
            }
