"""Names of the jobpulse OpenTelemetry conventions (docs/conventions.md is the normative text).

Both the job side and the sidecar import these, so the wire has one spelling.
"""

from __future__ import annotations

EVENT_QUEUED = "jobpulse.job.queued"
EVENT_START = "jobpulse.job.start"
EVENT_PROGRESS = "jobpulse.job.progress"
EVENT_STEP = "jobpulse.job.step"
EVENT_RESOURCES = "jobpulse.job.resources"
EVENT_PAUSED = "jobpulse.job.paused"
EVENT_RESUMED = "jobpulse.job.resumed"
EVENT_END = "jobpulse.job.end"

LIFECYCLE_EVENTS = frozenset(
    {EVENT_QUEUED, EVENT_START, EVENT_PROGRESS, EVENT_STEP, EVENT_RESOURCES, EVENT_PAUSED, EVENT_RESUMED, EVENT_END}
)

# Older SDKs without LogRecord.event_name carry the name in this attribute.
ATTR_EVENT_NAME = "event.name"

ATTR_JOB_ID = "jobpulse.job.id"
ATTR_SEQ = "jobpulse.seq"
ATTR_JOB_NAME = "jobpulse.job.name"
ATTR_JOB_TYPE = "jobpulse.job.type"
ATTR_JOB_OWNER = "jobpulse.job.owner"
ATTR_EXPECTED_DURATION = "jobpulse.job.expected_duration_s"
ATTR_HEARTBEAT_INTERVAL = "jobpulse.job.heartbeat_interval_s"
ATTR_STEP_NAMES = "jobpulse.job.step.names"

# On start events of a job that runs on a schedule: a cron expression or an interval, the time zone the
# expression is read in, and how late a run may start before it counts as missed.
ATTR_SCHEDULE_CRON = "jobpulse.job.schedule.cron"
ATTR_SCHEDULE_EVERY = "jobpulse.job.schedule.every_s"
ATTR_SCHEDULE_TIMEZONE = "jobpulse.job.schedule.timezone"
ATTR_SCHEDULE_GRACE = "jobpulse.job.schedule.grace_s"

# On queued events: the queue the job waits in, and its priority there (higher runs sooner).
ATTR_QUEUE = "jobpulse.job.queue"
ATTR_PRIORITY = "jobpulse.job.priority"
# A queue name is a metric label and an alert key: a short name. A priority is a 32-bit int, either sign.
MAX_QUEUE_LENGTH = 200
MIN_PRIORITY = -(2**31)
MAX_PRIORITY = 2**31 - 1

ATTR_PROCESSED = "jobpulse.job.processed"
ATTR_FAILED = "jobpulse.job.failed"
ATTR_TOTAL = "jobpulse.job.total"

ATTR_STEP = "jobpulse.job.step"
ATTR_STEP_INDEX = "jobpulse.job.step.index"
ATTR_STEP_COUNT = "jobpulse.job.step.count"
ATTR_STEP_STATE = "jobpulse.job.step.state"
ATTR_STEP_DURATION = "jobpulse.job.step.duration_s"

STEP_STARTED = "started"
STEP_COMPLETED = "completed"
STEP_FAILED = "failed"

ATTR_STATUS = "jobpulse.job.status"
STATUS_COMPLETED = "completed"
STATUS_FAILED = "failed"
STATUS_CANCELLED = "cancelled"
END_STATUSES = frozenset({STATUS_COMPLETED, STATUS_FAILED, STATUS_CANCELLED})

# On paused/resumed/end events that answer a control command: the id of that command.
ATTR_CONTROL_COMMAND = "jobpulse.control.command"

ATTR_EXCEPTION_TYPE = "exception.type"
ATTR_EXCEPTION_MESSAGE = "exception.message"
ATTR_EXCEPTION_STACKTRACE = "exception.stacktrace"

ATTR_MEMORY_RSS = "process.memory.usage"
ATTR_MEMORY_VIRTUAL = "process.memory.virtual"
ATTR_CPU_UTILIZATION = "process.cpu.utilization"
ATTR_THREAD_COUNT = "process.thread.count"
ATTR_OPEN_FDS = "process.open_file_descriptor.count"

ATTR_LOGGER_NAME = "log.logger"
ATTR_CODE_FUNCTION = "code.function.name"
ATTR_CODE_FILE = "code.file.path"
ATTR_CODE_LINE = "code.line.number"

RESOURCE_SERVICE_NAME = "service.name"
RESOURCE_HOST_NAME = "host.name"
RESOURCE_PROCESS_PID = "process.pid"

DEFAULT_HEARTBEAT_INTERVAL_S = 5.0
DEFAULT_SIDECAR_PORT = 4318
DEFAULT_SIDECAR_URL = f"http://127.0.0.1:{DEFAULT_SIDECAR_PORT}"
