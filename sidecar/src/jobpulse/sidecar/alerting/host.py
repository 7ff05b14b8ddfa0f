"""HostSampler: memory, disk and CPU of the sidecar's host, read with psutil."""

from __future__ import annotations

import socket

import psutil

from jobpulse.sidecar.alerting.rules import HostSample


class HostSampler:
    """Reads the host's resources. ``sample()`` blocks briefly (a disk stat): call it in a thread."""

    def __init__(self, disk_path: str, host: str | None = None) -> None:
        self.disk_path = disk_path
        self.host = host or socket.gethostname()
        # cpu_percent(None) measures since the previous call: the first call only starts the clock.
        psutil.cpu_percent(None)

    def sample(self) -> HostSample:
        try:
            disk: float | None = psutil.disk_usage(self.disk_path).percent
        except OSError:
            disk = None
        return HostSample(
            host=self.host,
            memory_percent=psutil.virtual_memory().percent,
            disk_percent=disk,
            cpu_percent=psutil.cpu_percent(None),
        )
