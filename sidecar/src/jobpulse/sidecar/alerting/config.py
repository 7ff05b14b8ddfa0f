"""Alerting configuration: rules, channels, hints, grouping, repeats and delivery, as msgspec Structs.

It is the ``alerting`` table of the sidecar settings, so it comes from the TOML/YAML settings file and
is validated with the rest: an error names its path, e.g. ``$.alerting.rules.job_stalled.after_s``.
docs/alerting.md lists every option with its default.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

import apprise
import msgspec

Severity = Literal["critical", "high", "warning", "info"]
SEVERITIES: tuple[str, ...] = ("critical", "high", "warning", "info")

Seconds = Annotated[float, msgspec.Meta(gt=0)]
SecondsOrOff = Annotated[float, msgspec.Meta(ge=0)]
# 0 turns a percentage threshold off.
Percent = Annotated[float, msgspec.Meta(ge=0, le=100)]
Ratio = Annotated[float, msgspec.Meta(gt=0, le=1)]
Count = Annotated[int, msgspec.Meta(ge=1)]
Tag = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
GroupField = Literal["job_type", "job_name", "host", "severity"]
FailureScope = Literal["job_type", "all"]

# Apprise's own tag that every channel carries implicitly: a rule with it notifies every channel.
ALL_CHANNELS = "all"


class RuleConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What every rule has."""

    enabled: bool = True
    severity: Severity = "warning"
    # Apprise tags of the channels to notify; "all" means every channel.
    channels: list[Tag] = msgspec.field(default_factory=lambda: [ALL_CHANNELS])
    # Re-notify a still-firing alert this often; None takes alerting.repeat_interval_s, 0 never repeats.
    repeat_interval_s: SecondsOrOff | None = None
    # Send a notice when the alert resolves.
    notify_resolved: bool = True


class JobFailedRule(RuleConfig, kw_only=True, forbid_unknown_fields=True):
    """A job ended with status ``failed``. Resolves when a later run of the same job name completes."""

    severity: Severity = "high"
    # How many of the job's last log lines go into the notification.
    log_lines: Annotated[int, msgspec.Meta(ge=0, le=100)] = 10
    # Without a successful run for this long, the alert resolves quietly (keeps memory bounded).
    expire_after_s: Seconds = 7 * 86400.0


class JobOverdueRule(RuleConfig, kw_only=True, forbid_unknown_fields=True):
    """A job runs longer than its expected duration (see ``expected_durations``)."""


class JobPredictedOverrunRule(RuleConfig, kw_only=True, forbid_unknown_fields=True):
    """The ETA says the job will finish past its expected duration, before it actually does."""

    # ETAs are noisy at first: no prediction before the job has run this long.
    min_elapsed_s: SecondsOrOff = 30.0
    # Fire when the projected duration exceeds the expected one by more than this fraction.
    tolerance: Annotated[float, msgspec.Meta(ge=0)] = 0.1


class JobStalledRule(RuleConfig, kw_only=True, forbid_unknown_fields=True):
    """A running job's processed count has not moved for ``after_s`` (alive but stuck)."""

    after_s: Seconds = 300.0


class JobLostRule(RuleConfig, kw_only=True, forbid_unknown_fields=True):
    """Nothing heard from a running job within its heartbeat window (the sidecar marked it lost)."""

    severity: Severity = "high"


class JobMissedRule(RuleConfig, kw_only=True, forbid_unknown_fields=True):
    """A scheduled job name or type (``[[schedules]]``, or learned from ``jobpulse run --schedule``) did
    not start within its grace after a run was due. Resolves when a run starts."""

    severity: Severity = "high"


class ResourcePressureRule(RuleConfig, kw_only=True, forbid_unknown_fields=True):
    """Host memory, disk or CPU beyond a threshold while jobs run; a job's RSS beyond a threshold.

    A threshold of 0 is not checked (TOML has no null).
    """

    memory_percent: Percent = 90.0
    disk_percent: Percent = 90.0
    cpu_percent: Percent = 95.0
    disk_path: str = "/"
    job_rss_mb: Annotated[float, msgspec.Meta(ge=0)] = 4096.0
    sample_interval_s: Seconds = 5.0


class ErrorRateRule(RuleConfig, kw_only=True, forbid_unknown_fields=True):
    """A job's failed/processed ratio above ``max_ratio`` once it has processed ``min_processed``."""

    max_ratio: Ratio = 0.05
    min_processed: Count = 100


class FleetFailureRateRule(RuleConfig, kw_only=True, forbid_unknown_fields=True):
    """The share of failed runs among the last ``window_jobs`` jobs of a type (or of all jobs) that
    ended within ``window_s``, above ``max_ratio`` once ``min_jobs`` of them have ended.

    Completed and failed runs count; cancelled ones do not (an operator's decision is no failure).
    """

    severity: Severity = "high"
    max_ratio: Ratio = 0.1
    window_jobs: Count = 20
    window_s: Seconds = 3600.0
    # So that one failure among the first two runs pages no one.
    min_jobs: Count = 10
    # Per job type, across all jobs, or both.
    scopes: Annotated[list[FailureScope], msgspec.Meta(min_length=1)] = msgspec.field(
        default_factory=lambda: ["job_type"]
    )

    def __post_init__(self) -> None:
        if self.min_jobs > self.window_jobs:
            raise ValueError(f"min_jobs ({self.min_jobs}) is more than window_jobs ({self.window_jobs})")


class QueueDepthRule(RuleConfig, kw_only=True, forbid_unknown_fields=True):
    """More than ``max_pending`` jobs waiting (pending) in one queue."""

    max_pending: Count = 50


class QueueWaitRule(RuleConfig, kw_only=True, forbid_unknown_fields=True):
    """The job waiting longest in a queue has waited more than ``max_wait_s``."""

    max_wait_s: Seconds = 600.0


class FeedDelayRule(RuleConfig, kw_only=True, forbid_unknown_fields=True):
    """The live feed's delay from ingest to a client's socket: its ``quantile`` over the last
    ``window_s`` above ``max_delay_s``, once ``min_frames`` frames were sent in the window."""

    max_delay_s: Seconds = 0.5
    quantile: Ratio = 0.95
    window_s: Seconds = 60.0
    min_frames: Count = 20


class IngestLagRule(RuleConfig, kw_only=True, forbid_unknown_fields=True):
    """OTLP export requests queue up: the ``quantile`` of their wait before folding over the last
    ``window_s`` above ``max_queue_s``, once ``min_requests`` requests came in the window."""

    max_queue_s: Seconds = 1.0
    quantile: Ratio = 0.95
    window_s: Seconds = 60.0
    min_requests: Count = 10


class FeedConnectionFailuresRule(RuleConfig, kw_only=True, forbid_unknown_fields=True):
    """Live-feed connections failing: failed handshakes, forced resyncs (clients too slow) and dropped
    clients, more than ``max_per_minute`` a minute on average over the last ``window_s``."""

    max_per_minute: Annotated[float, msgspec.Meta(gt=0)] = 10.0
    window_s: Seconds = 300.0


class AlertmanagerRule(RuleConfig, kw_only=True, forbid_unknown_fields=True):
    """Alerts received from Prometheus Alertmanager; ``severity`` applies when the alert has no
    usable ``severity`` label."""


class Rules(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One entry per rule."""

    job_failed: JobFailedRule = msgspec.field(default_factory=JobFailedRule)
    job_overdue: JobOverdueRule = msgspec.field(default_factory=JobOverdueRule)
    job_predicted_overrun: JobPredictedOverrunRule = msgspec.field(default_factory=JobPredictedOverrunRule)
    job_stalled: JobStalledRule = msgspec.field(default_factory=JobStalledRule)
    job_lost: JobLostRule = msgspec.field(default_factory=JobLostRule)
    job_missed: JobMissedRule = msgspec.field(default_factory=JobMissedRule)
    resource_pressure: ResourcePressureRule = msgspec.field(default_factory=ResourcePressureRule)
    error_rate: ErrorRateRule = msgspec.field(default_factory=ErrorRateRule)
    fleet_failure_rate: FleetFailureRateRule = msgspec.field(default_factory=FleetFailureRateRule)
    queue_depth: QueueDepthRule = msgspec.field(default_factory=QueueDepthRule)
    queue_wait: QueueWaitRule = msgspec.field(default_factory=QueueWaitRule)
    feed_delay: FeedDelayRule = msgspec.field(default_factory=FeedDelayRule)
    ingest_lag: IngestLagRule = msgspec.field(default_factory=IngestLagRule)
    feed_connection_failures: FeedConnectionFailuresRule = msgspec.field(default_factory=FeedConnectionFailuresRule)
    alertmanager: AlertmanagerRule = msgspec.field(default_factory=AlertmanagerRule)


class ChannelConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One notification channel: an Apprise URL (Slack, email, Teams, Discord, webhooks...) and its tags.

    The URL holds secrets: it is never logged or returned, only its masked form.
    """

    url: Annotated[str, msgspec.Meta(min_length=1)]
    tags: list[Tag] = []
    # Shown in the API and metrics; defaults to the URL's scheme and position, e.g. "slack-1".
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None

    def __post_init__(self) -> None:
        if apprise.Apprise.instantiate(self.url, suppress_exceptions=True) is None:
            # The URL itself is not repeated: it may carry a token.
            raise ValueError(f"url: not a usable Apprise URL (scheme {self.scheme!r})")

    @property
    def scheme(self) -> str:
        return self.url.split("://", 1)[0] if "://" in self.url else "?"

    def __repr__(self) -> str:
        return f"ChannelConfig(name={self.name!r}, tags={self.tags!r}, url='{self.scheme}://****')"


class Hint(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Suggested actions for failures whose exception type and/or message match these regexes."""

    actions: Annotated[list[str], msgspec.Meta(min_length=1)]
    type: str | None = None
    message: str | None = None

    def __post_init__(self) -> None:
        if self.type is None and self.message is None:
            raise ValueError("a hint needs a `type` or `message` pattern")
        for field in ("type", "message"):
            pattern = getattr(self, field)
            if pattern is not None:
                try:
                    re.compile(pattern)
                except re.error as error:
                    raise ValueError(f"{field}: invalid regular expression: {error}") from None


class ExpectedDurations(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Where a job's expected duration comes from when the job does not declare one.

    Order: the job's own ``expected_duration``, ``by_name``, ``by_type``, then history (p95 of the
    name's completed runs times ``history_factor``, once it has ``history_min_runs`` runs), then
    ``default_s``.
    """

    by_name: dict[str, Seconds] = {}
    by_type: dict[str, Seconds] = {}
    learn_from_history: bool = True
    history_factor: Annotated[float, msgspec.Meta(ge=1)] = 1.5
    history_min_runs: Count = 5
    history_days: Seconds = 30.0
    history_refresh_s: Seconds = 300.0
    # The timeout warning threshold of jobs nothing else gives a duration for; None: no default.
    default_s: Seconds | None = None


class DeliverySettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """How notifications are sent: retries with exponential backoff and jitter, bounded queues."""

    attempts: Annotated[int, msgspec.Meta(ge=1, le=20)] = 3
    base_delay_s: Seconds = 1.0
    max_delay_s: Seconds = 30.0
    timeout_s: Seconds = 10.0
    # Per channel: notifications waiting beyond this are dropped (counted, recorded, logged).
    queue_size: Count = 1000
    workers_per_channel: Annotated[int, msgspec.Meta(ge=1, le=32)] = 2


class AlertingSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The ``alerting`` table of the settings."""

    enabled: bool = True
    # False: alerts still fire, are stored and reach the live feed, but nobody is notified. Turned
    # back on, alerts still firing that were never notified are notified at the next tick.
    notifications_enabled: bool = True
    evaluation_interval_s: Seconds = 1.0
    # The first alert of a group waits this long for others, so a burst becomes one notification.
    group_window_s: SecondsOrOff = 5.0
    # Alerts of one rule and event are grouped by these fields.
    group_by: list[GroupField] = msgspec.field(default_factory=lambda: ["job_type"])
    # Re-notify still-firing alerts this often; 0 never repeats. Rules may override it.
    repeat_interval_s: SecondsOrOff = 4 * 3600.0
    channels: list[ChannelConfig] = []
    rules: Rules = msgspec.field(default_factory=Rules)
    hints: list[Hint] = []
    builtin_hints: bool = True
    expected_durations: ExpectedDurations = msgspec.field(default_factory=ExpectedDurations)
    delivery: DeliverySettings = msgspec.field(default_factory=DeliverySettings)

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for index, channel in enumerate(self.channels, start=1):
            if channel.name is None:
                channel.name = f"{channel.scheme}-{index}"
            if channel.name in seen:
                raise ValueError(f"channels: two channels are named {channel.name!r}")
            seen.add(channel.name)
        if self.delivery.max_delay_s < self.delivery.base_delay_s:
            raise ValueError("delivery: max_delay_s is smaller than base_delay_s")

    def repeat_interval(self, rule: RuleConfig) -> float:
        """Seconds between repeats of ``rule``'s alerts (0: never)."""
        return self.repeat_interval_s if rule.repeat_interval_s is None else rule.repeat_interval_s
