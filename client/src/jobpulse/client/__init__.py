"""jobpulse.client: the sidecar's REST API and live feed for Python programs (docs/client.md).

    from jobpulse.client import Client

    with Client("http://127.0.0.1:4318") as client:
        job = client.wait_for_end("nightly-import-2026-05-01", timeout=3600)
        print(job.status, job.processed)

``Client`` blocks; ``AsyncClient`` is the same for asyncio code. Both return msgspec Structs and
raise :class:`JobpulseError` subclasses. ``Feed`` is the live feed with reconnection built in.
Installs with ``jobpulse[client]``; it loads nothing of the sidecar or of the job side.
"""

from jobpulse.client.alerting import (
    Alert,
    AlertPage,
    Channel,
    ChannelTestResults,
    Notification,
    NotificationAttempt,
    NotificationPage,
    Silence,
)
from jobpulse.client.analytics import (
    Analytics,
    Durations,
    ErrorPattern,
    GroupStats,
    StepAnalytics,
    StepStats,
    TrendPoint,
)
from jobpulse.client.backoff import Backoff, ConnectionState
from jobpulse.client.client import AsyncClient, Client
from jobpulse.client.config import (
    ChangeEntry,
    ChangeRecord,
    ConfigHistory,
    ConfigRejection,
    ConfigView,
    SettingProblem,
)
from jobpulse.client.errors import (
    ApiError,
    Conflict,
    ConnectionFailed,
    FieldError,
    Forbidden,
    JobpulseError,
    NotFound,
    RateLimited,
    ServerError,
    Unauthorized,
    UnexpectedAnswer,
    ValidationFailed,
)
from jobpulse.client.feed import Feed, Filters
from jobpulse.client.jobs import (
    ENDED,
    Command,
    CommandOutcome,
    JobDetail,
    JobHealth,
    JobMetrics,
    JobPage,
    JobStatus,
    JobSummary,
    LogLine,
    LogPage,
    Progress,
)
from jobpulse.client.messages import (
    AlertUpdate,
    FeedMessage,
    JobLog,
    JobLogLine,
    JobProgress,
    JobStatusUpdate,
    Resync,
    Snapshot,
    UnknownMessage,
)
from jobpulse.client.monitor import (
    ActiveJobs,
    Connections,
    DeadLetter,
    DeadLetterPage,
    Health,
    IngestCounters,
    QueueOfType,
    Queues,
    QueueView,
    Schedules,
    ScheduleView,
)

__all__ = [
    "ENDED",
    "ActiveJobs",
    "Alert",
    "AlertPage",
    "AlertUpdate",
    "Analytics",
    "ApiError",
    "AsyncClient",
    "Backoff",
    "ChangeEntry",
    "ChangeRecord",
    "Channel",
    "ChannelTestResults",
    "Client",
    "Command",
    "CommandOutcome",
    "ConfigHistory",
    "ConfigRejection",
    "ConfigView",
    "Conflict",
    "ConnectionFailed",
    "ConnectionState",
    "Connections",
    "DeadLetter",
    "DeadLetterPage",
    "Durations",
    "ErrorPattern",
    "Feed",
    "FeedMessage",
    "FieldError",
    "Filters",
    "Forbidden",
    "GroupStats",
    "Health",
    "IngestCounters",
    "JobDetail",
    "JobHealth",
    "JobLog",
    "JobLogLine",
    "JobMetrics",
    "JobPage",
    "JobProgress",
    "JobStatus",
    "JobStatusUpdate",
    "JobSummary",
    "JobpulseError",
    "LogLine",
    "LogPage",
    "NotFound",
    "Notification",
    "NotificationAttempt",
    "NotificationPage",
    "Progress",
    "QueueOfType",
    "QueueView",
    "Queues",
    "RateLimited",
    "Resync",
    "ScheduleView",
    "Schedules",
    "ServerError",
    "SettingProblem",
    "Silence",
    "Snapshot",
    "StepAnalytics",
    "StepStats",
    "TrendPoint",
    "Unauthorized",
    "UnexpectedAnswer",
    "UnknownMessage",
    "ValidationFailed",
]
