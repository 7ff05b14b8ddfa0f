"""ControlCollector: waiting long polls, and how the listener for other replicas' commands fares."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from jobpulse.sidecar.control.service import ControlService
from jobpulse.sidecar.metrics.families import counter, gauge


class ControlCollector(Collector):
    """``jobpulse_sidecar_control_*``; the listener's figures only where there is a listener (PostgreSQL)."""

    def __init__(self, service: ControlService) -> None:
        self.service = service

    def collect(self) -> Iterator[Metric]:
        yield gauge(
            "jobpulse_sidecar_control_polls_waiting",
            "Jobs' control long polls this sidecar holds open.",
            self.service.waiters.waiting,
        )
        notices = self.service.notices
        if notices.stats is None:
            return
        yield gauge(
            "jobpulse_sidecar_control_listener_up",
            "1 while this sidecar listens for commands made through other replicas (PostgreSQL NOTIFY), "
            "else 0: its long polls reread the database instead.",
            1 if notices.listening else 0,
        )
        yield counter(
            "jobpulse_sidecar_control_notifications_received",
            "Notifications of commands stored by any replica sharing the database, this one included.",
            notices.stats.received,
        )
        yield counter(
            "jobpulse_sidecar_control_listener_reconnects",
            "Times the listening connection was opened again after it was lost.",
            notices.stats.reconnects,
        )
