"""Samples of resources, for `jobpulse.job.resources` records: this process's, or a process tree's."""

from __future__ import annotations

import time
from typing import Protocol

import psutil

from jobpulse.conventions import (
    ATTR_CPU_UTILIZATION,
    ATTR_MEMORY_RSS,
    ATTR_MEMORY_VIRTUAL,
    ATTR_OPEN_FDS,
    ATTR_THREAD_COUNT,
)


class Sampler(Protocol):
    """Where a job's resources records come from."""

    def sample(self) -> dict[str, int | float]:
        """One sample, keyed by the OpenTelemetry semantic attribute names."""
        ...


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
            # psutil gives percent of one CPU; the convention wants a fraction of one CPU.
            cpu = process.cpu_percent(None) / 100.0
            return _sample(memory.rss, memory.vms, cpu, process.num_threads(), _descriptors(process))


class ProcessTreeSampler:
    """Reads a process and all its descendants, summed: the resources of a command and what it started.

    CPU counts what the processes of the tree used and what their exited children used (psutil's
    ``children_*`` times), so short-lived subprocesses are not missed between samples.
    """

    def __init__(self, pid: int) -> None:
        self._root = psutil.Process(pid)
        self._started = self._root.create_time()
        self._last: tuple[float, float] | None = None  # (wall clock, CPU seconds) of the previous sample
        self._previous = _sample(0, 0, 0.0, 0, 0)

    def sample(self) -> dict[str, int | float]:
        """One sample; the previous one again once the tree is gone."""
        try:
            processes = [self._root, *self._root.children(recursive=True)]
        except psutil.Error:
            return self._previous
        rss = virtual = threads = descriptors = 0
        cpu_seconds = 0.0
        for process in processes:
            try:
                with process.oneshot():
                    memory = process.memory_info()
                    times = process.cpu_times()
                    threads += process.num_threads()
                    descriptors += _descriptors(process)
            except psutil.Error:  # it exited meanwhile, or is a zombie
                continue
            rss += memory.rss
            virtual += memory.vms
            cpu_seconds += times.user + times.system + times.children_user + times.children_system
        now = time.time()
        last_time, last_cpu = self._last or (self._started, 0.0)
        self._last = (now, cpu_seconds)
        # A process that leaves the tree (reparented when its parent exits) takes its time with it.
        cpu = max(cpu_seconds - last_cpu, 0.0) / max(now - last_time, 1e-3)
        self._previous = _sample(rss, virtual, cpu, threads, descriptors)
        return self._previous


def _descriptors(process: psutil.Process) -> int:
    return process.num_fds() if hasattr(process, "num_fds") else process.num_handles()


def _sample(rss: int, virtual: int, cpu: float, threads: int, descriptors: int) -> dict[str, int | float]:
    return {
        ATTR_MEMORY_RSS: rss,
        ATTR_MEMORY_VIRTUAL: virtual,
        ATTR_CPU_UTILIZATION: cpu,
        ATTR_THREAD_COUNT: threads,
        ATTR_OPEN_FDS: descriptors,
    }
