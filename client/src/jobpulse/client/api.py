"""The sidecar's REST API as the clients offer it (docs/api.md): one declaration per endpoint.

Each method below is an endpoint (see :mod:`jobpulse.client.endpoints`): on a ``Client`` it returns
the answer, on an ``AsyncClient`` an awaitable of it. Times are datetimes (naive ones are taken as
UTC by the sidecar); a list argument repeats its query parameter.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from jobpulse.client.alerting import (
    AlertPage,
    Channel,
    ChannelTestRequest,
    ChannelTestResults,
    NotificationPage,
    Silence,
    SilenceRequest,
)
from jobpulse.client.analytics import Analytics, StepAnalytics
from jobpulse.client.config import ConfigHistory, ConfigView
from jobpulse.client.endpoints import delete, get, pages, patch, post, put, streamed
from jobpulse.client.jobs import (
    Command,
    CommandList,
    ControlRequest,
    JobDetail,
    JobMetrics,
    JobPage,
    JobStatus,
    LogLevel,
    LogPage,
    Status,
)
from jobpulse.client.monitor import (
    ActiveJobs,
    Connections,
    DeadLetterPage,
    Health,
    IngestCounters,
    Queues,
    Schedules,
)

Sort = Literal["-started_at", "started_at", "-ended_at", "ended_at", "-duration", "duration", "-name", "name"]


class Api:
    """Every REST endpoint of the sidecar a client offers."""

    # ---- jobs -----------------------------------------------------------------------------------

    @get("/api/jobs")
    def jobs(
        self,
        status: Sequence[Status] | None = None,
        job_type: str | None = None,
        name: str | None = None,
        name_prefix: str | None = None,
        owner: str | None = None,
        q: str | None = None,
        started_after: datetime | None = None,
        started_before: datetime | None = None,
        ended_after: datetime | None = None,
        ended_before: datetime | None = None,
        min_duration_s: float | None = None,
        max_duration_s: float | None = None,
        sort: Sort = "-started_at",
        limit: int = 50,
        cursor: str | None = None,
    ) -> JobPage:
        """One page of the job history matching the filters (``name``: a case-insensitive substring;
        ``q``: text in the name or the error). Pass ``next_cursor`` as ``cursor`` for the next page,
        or use :meth:`iter_jobs`."""

    iter_jobs = pages(jobs)

    @get("/api/jobs/{job_id}")
    def job(self, job_id: str) -> JobDetail:
        """Everything about one job: steps with timings, resources, log counts, recent lines, the full error."""

    @get("/api/jobs/{job_id}/status")
    def job_status(self, job_id: str) -> JobStatus:
        """A job's status, progress, current step, rate and ETA."""

    @get("/api/jobs/{job_id}/metrics")
    def job_metrics(self, job_id: str) -> JobMetrics:
        """A job's execution figures: records, errors, rate, memory, CPU, step durations."""

    @get("/api/jobs/{job_id}/logs")
    def logs(
        self,
        job_id: str,
        level: LogLevel | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        q: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> LogPage:
        """One page of a job's log lines in order (``level``: the minimum). See :meth:`iter_logs`."""

    iter_logs = pages(logs)

    @streamed("/api/jobs/{job_id}/logs/download")
    def download_logs(
        self, job_id: str, format: Literal["ndjson", "text"] = "ndjson", level: LogLevel | None = None
    ) -> bytes:
        """Every log line of a job, streamed as NDJSON or text: an iterator of byte chunks to write out."""

    # ---- control --------------------------------------------------------------------------------

    @post("/api/jobs/{job_id}/pause", body=ControlRequest)
    def pause(self, job_id: str, reason: str | None = None) -> Command:
        """Ask a running job to pause at its next checkpoint. :class:`~jobpulse.client.errors.Conflict`
        when it is not running; see :meth:`wait_for_command` for what the job does about it."""

    @post("/api/jobs/{job_id}/resume", body=ControlRequest)
    def resume(self, job_id: str, reason: str | None = None) -> Command:
        """Ask a paused job (or one asked to pause) to go on."""

    @post("/api/jobs/{job_id}/cancel", body=ControlRequest)
    def cancel(self, job_id: str, reason: str | None = None) -> Command:
        """Ask a pending, running or paused job to stop; it ends as cancelled."""

    @get("/api/jobs/{job_id}/commands")
    def commands(self, job_id: str, after: int = 0, wait: float = 0.0) -> CommandList:
        """A job's control commands with id above ``after`` and what became of each; with ``wait``,
        the answer waits up to that many seconds for a newer command."""

    # ---- analytics ------------------------------------------------------------------------------

    @get("/api/analytics")
    def analytics(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        group_by: Literal["job_type", "name"] = "job_type",
        bucket: Literal["hour", "day"] = "day",
    ) -> Analytics:
        """Per job type or name over ``since``..``until`` (default: the last 7 days): runs by outcome,
        success rate, duration percentiles, throughput, trend per bucket, errors by exception type."""

    @get("/api/analytics/steps")
    def step_analytics(self, name: str, since: datetime | None = None, until: datetime | None = None) -> StepAnalytics:
        """Per-step durations of the runs of job ``name``, with the bottleneck flagged."""

    # ---- monitor --------------------------------------------------------------------------------

    @get("/api/monitor/jobs")
    def active_jobs(
        self,
        status: Sequence[Status] | None = None,
        job_type: str | None = None,
        name: str | None = None,
        owner: str | None = None,
    ) -> ActiveJobs:
        """Jobs that have not ended, most recently updated first."""

    @get("/api/monitor/queues")
    def queues(self, queue: str | None = None, job_type: str | None = None) -> Queues:
        """Jobs waiting now, per queue and job type: how many, and the oldest wait."""

    @get("/api/monitor/schedules")
    def schedules(self) -> Schedules:
        """Scheduled job names and types: when the next run is due, the last run, ok, late or missed."""

    @get("/api/monitor/connections")
    def connections(self) -> Connections:
        """Live-feed clients with their filters and counters, and the feed's cursor."""

    @get("/api/monitor/ingest")
    def ingest(self) -> IngestCounters:
        """The OTLP receiver's counters since the sidecar started."""

    @get("/api/monitor/dead-letters")
    def dead_letters(self, limit: int = 50, cursor: str | None = None, job_id: str | None = None) -> DeadLetterPage:
        """Job states and log lines history storage refused, newest first. See :meth:`iter_dead_letters`."""

    iter_dead_letters = pages(dead_letters)

    @get("/readyz", accept=(503,))
    def readiness(self) -> Health:
        """Whether every component of the sidecar works (``status`` ``ok``), with the failing checks."""

    # ---- configuration (admin role) -------------------------------------------------------------

    @get("/api/monitor/config")
    def config(self) -> ConfigView:
        """The settings in force, the source of each key, the runtime changes, what waits for a restart."""

    @patch("/api/monitor/config", document="changes")
    def patch_config(self, changes: dict[str, Any]) -> ConfigView:
        """Change settings now: ``changes`` is a JSON merge patch of the runtime changes (nested tables,
        ``None`` removes a change). Checked as a whole: :class:`~jobpulse.client.errors.ValidationFailed`
        lists every problem (key, value, what is allowed) and nothing is changed. Keys listed in
        ``restart_required`` are refused."""

    @put("/api/monitor/config", document="runtime")
    def replace_config(self, runtime: dict[str, Any]) -> ConfigView:
        """Replace every runtime change with ``runtime`` (``{}`` removes them all); checked like
        :meth:`patch_config`. Masked secrets read from :meth:`config` may be sent back: they keep their value."""

    @get("/api/monitor/config/history")
    def config_history(self, limit: int = 50, cursor: int | None = None) -> ConfigHistory:
        """One page of accepted changes and refused attempts, newest first. See :meth:`iter_config_history`."""

    iter_config_history = pages(config_history)

    # ---- alerting -------------------------------------------------------------------------------

    @get("/api/alerts")
    def alerts(
        self,
        state: Literal["firing", "resolved"] | None = None,
        rule: str | None = None,
        severity: Literal["info", "warning", "high", "critical"] | None = None,
        source: Literal["sidecar", "alertmanager"] | None = None,
        job_id: str | None = None,
        job_name: str | None = None,
        job_type: str | None = None,
        key: str | None = None,
        fired_after: datetime | None = None,
        fired_before: datetime | None = None,
        limit: int = 100,
    ) -> AlertPage:
        """Alerts, firing and resolved, newest first."""

    @get("/api/alerts/silences")
    def silences(self, include_expired: bool = False) -> list[Silence]:
        """Silences in force (all of them with ``include_expired``), newest first."""

    @post("/api/alerts/silences", body=SilenceRequest)
    def create_silence(
        self,
        *,
        rule: str | None = None,
        job_name: str | None = None,
        key: str | None = None,
        until: datetime | None = None,
        duration_s: float | None = None,
        created_by: str | None = None,
        reason: str | None = None,
    ) -> Silence:
        """Hold back notifications of the alerts matching every matcher given (at least one of
        ``rule``, ``job_name``, ``key``) until ``until`` or for ``duration_s`` seconds."""

    @delete("/api/alerts/silences/{silence_id}")
    def delete_silence(self, silence_id: int) -> None:
        """End a silence now; it is deleted (not listed even with ``include_expired``).
        :class:`~jobpulse.client.errors.NotFound` when there is no such silence."""

    @get("/api/notifications")
    def notifications(
        self,
        channel: str | None = None,
        result: Literal["sending", "retrying", "sent", "failed", "dropped"] | None = None,
        rule: str | None = None,
        event: str | None = None,
        alert_key: str | None = None,
        limit: int = 100,
    ) -> NotificationPage:
        """Notification deliveries, newest first: channel, result, last error and each attempt."""

    @get("/api/notifications/channels")
    def channels(self) -> list[Channel]:
        """The configured channels (URLs masked) and their counters."""

    @post("/api/notifications/test", body=ChannelTestRequest)
    def test_notification(self, channel: str, title: str | None = None, body: str | None = None) -> ChannelTestResults:
        """Send a test notification to the channel with this name, or every channel with this tag."""
