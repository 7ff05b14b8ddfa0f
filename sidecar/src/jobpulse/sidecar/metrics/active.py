"""Jobs by status and the per-active-job gauges, rendered from the JobStore at scrape time.

Nothing here runs on ingest. When Prometheus scrapes, the active jobs are snapshotted (a list copy of
immutable states, on the event loop) and written straight to exposition text: with 10,000 active jobs
that is about a hundred thousand samples, and building prometheus_client ``Metric``/``Sample`` objects
for each of them costs several times more than writing the lines (docs/metrics.md has the numbers).
The text is the same in the Prometheus text format and OpenMetrics, except that the info metric is
typed ``info`` in OpenMetrics.

A job's series exist only while it is active (pending, running, paused or lost): they disappear
with its last scrape before it ended, so series churn follows the jobs and cardinality stays bounded
by the number of jobs running at once.

Queues are rendered from the same snapshot: pending jobs and the oldest wait per queue and job type,
zero for a queue and type seen before with nothing waiting now.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable

from jobpulse.sidecar.metrics.labels import LabelBudget, escape
from jobpulse.sidecar.model import figures
from jobpulse.sidecar.model.queues import waiting_by_type
from jobpulse.sidecar.model.state import ACTIVE_STATUSES, JobState
from jobpulse.sidecar.printable import printable
from jobpulse.sidecar.store import JobStore

JOBS_ACTIVE = "jobpulse_jobs_active"
INFO = "jobpulse_active_job"
QUEUE_PENDING = "jobpulse_queue_pending_jobs"
QUEUE_OLDEST_WAIT = "jobpulse_queue_oldest_wait_seconds"

# (name, help) of each per-job gauge, in the order of the values ``_job_values`` returns.
GAUGES: tuple[tuple[str, str], ...] = (
    ("jobpulse_active_job_progress_ratio", "Share of the job's declared total processed, 0 to 1 (jobs with a total)."),
    ("jobpulse_active_job_records_processed", "Records the job has handled so far, failed ones included."),
    ("jobpulse_active_job_records_failed", "Records that failed so far."),
    ("jobpulse_active_job_records_per_second", "The job's current processing rate (records per second, job clock)."),
    ("jobpulse_active_job_eta_seconds", "Estimated seconds until the job reaches its total at the current rate."),
    ("jobpulse_active_job_elapsed_seconds", "Seconds since the job started (job clock, skew-corrected)."),
    ("jobpulse_active_job_expected_duration_seconds", "How long the job said it expects to take."),
    ("jobpulse_active_job_seconds_since_progress", "Seconds since the job's processed count last changed."),
    ("jobpulse_active_job_memory_rss_bytes", "Resident memory of the job's process at its latest resource sample."),
    (
        "jobpulse_active_job_cpu_utilization_ratio",
        "CPU used by the job's process at its latest sample (1.0 = one core).",
    ),
)

_Values = tuple[str | None, ...]
_INF = float("inf")


def _number(value: float | int | None) -> str | None:
    """A sample value as exposition text; None (no sample) for unknown or non-finite values."""
    if value is None:
        return None
    if type(value) is int:
        return str(value)
    if value != value or value == _INF or value == -_INF:
        return None
    return repr(value)


def seconds_since_progress(state: JobState, now_ns: int) -> float | None:
    """Seconds, on the job's clock, since the processed count last changed (or since the job started)."""
    samples = state.samples
    if samples:
        newest = samples[-1][2]
        since = samples[-1][1]
        for _, time_ns, processed in reversed(samples):
            if processed != newest:
                break
            since = time_ns
    else:
        since = state.begun_ns
        if since is None:
            return None
    return max(figures.job_clock_now(state, now_ns) - since, 0) / 1e9


def _job_values(state: JobState, now_ns: int) -> _Values:
    """The values of the GAUGES for one job, already formatted."""
    rate = figures.rate_per_s(state, now_ns)
    total = state.total
    resources = state.resources
    return (
        _number(min(state.processed / total, 1.0) if total else None),
        str(state.processed),
        str(state.failed),
        _number(rate),
        _number(figures.eta_s(state, rate)),
        _number(figures.execution_time_s(state, now_ns)),
        _number(state.expected_duration_s),
        _number(seconds_since_progress(state, now_ns)),
        _number(resources.rss_bytes) if resources else None,
        _number(resources.cpu_utilization) if resources else None,
    )


def _help(name: str, text: str, kind: str) -> str:
    return f"# HELP {name} {text}\n# TYPE {name} {kind}\n"


class ActiveJobsRenderer:
    """Writes the jobs-by-status and per-active-job families as exposition text."""

    def __init__(self, store: JobStore, budget: LabelBudget, known: Callable[[], Iterable[tuple[str, str]]]) -> None:
        self.store = store
        self.budget = budget
        self.known = known
        # (queue, job type) label pairs that have had a pending job: reported as 0 when none waits.
        self._queues: set[tuple[str, str]] = set()

    def snapshot(self) -> list[JobState]:
        """The active jobs now. Call it on the event loop; the states it returns are immutable."""
        return self.store.active()

    def render(self, states: list[JobState], now_ns: int, *, openmetrics: bool = False) -> str:
        """The families for ``states`` as text (safe to call off the event loop)."""
        budget = self.budget
        by_status: Counter[tuple[str, str, str]] = Counter()
        for pair in list(self.known()):
            for status in ACTIVE_STATUSES:
                by_status[(*pair, status)] += 0
        labels: list[str] = []
        infos: list[str] = []
        rows: list[_Values] = []
        for state in states:
            name = budget.name(state.name)
            job_type = budget.job_type(name, state.job_type)
            by_status[(name, job_type, state.status)] += 1
            label = f'job_id="{escape(printable(state.id))}",job_name="{escape(name)}",job_type="{escape(job_type)}"'
            labels.append(label)
            infos.append(f'{label},status="{state.status}"')
            rows.append(_job_values(state, now_ns))

        out: list[str] = [
            _help(JOBS_ACTIVE, "Jobs that have not ended, by status (pending, running, paused, lost).", "gauge")
        ]
        out.extend(
            f'{JOBS_ACTIVE}{{job_name="{escape(name)}",job_type="{escape(job_type)}",status="{status}"}} {count}\n'
            for (name, job_type, status), count in sorted(by_status.items())
        )
        if openmetrics:
            out.append(_help(INFO, "One series per active job carrying its status (value 1).", "info"))
        else:
            out.append(_help(INFO + "_info", "One series per active job carrying its status (value 1).", "gauge"))
        out.extend(f"{INFO}_info{{{info}}} 1\n" for info in infos)
        columns = list(zip(*rows, strict=False)) if rows else [() for _ in GAUGES]
        for (name, text), column in zip(GAUGES, columns, strict=False):
            out.append(_help(name, text, "gauge"))
            out.extend(
                [
                    f"{name}{{{label}}} {value}\n"
                    for label, value in zip(labels, column, strict=False)
                    if value is not None
                ]
            )
        out.append(self._render_queues(states, now_ns))
        return "".join(out)

    def _render_queues(self, states: list[JobState], now_ns: int) -> str:
        budget = self.budget
        pending: Counter[tuple[str, str]] = Counter()
        oldest: dict[tuple[str, str], float] = {}
        for pair in self._queues:
            pending[pair] += 0
            oldest[pair] = 0.0
        for (queue, job_type), waiting in waiting_by_type(states, now_ns).items():
            queue_label = budget.queue(queue)
            pair = (queue_label, budget.queue_job_type(queue_label, job_type))
            self._queues.add(pair)
            pending[pair] += waiting.pending
            oldest[pair] = max(oldest.get(pair, 0.0), waiting.oldest_wait_s)
        out = [
            _help(
                QUEUE_PENDING, "Jobs waiting in a queue (pending: queued, not started), by queue and job type.", "gauge"
            )
        ]
        out.extend(
            f'{QUEUE_PENDING}{{job_type="{escape(job_type)}",queue="{escape(queue)}"}} {count}\n'
            for (queue, job_type), count in sorted(pending.items())
        )
        out.append(
            _help(
                QUEUE_OLDEST_WAIT,
                "How long the job waiting longest in a queue has waited, seconds (0 when none waits).",
                "gauge",
            )
        )
        out.extend(
            f'{QUEUE_OLDEST_WAIT}{{job_type="{escape(job_type)}",queue="{escape(queue)}"}} {_number(wait) or 0}\n'
            for (queue, job_type), wait in sorted(oldest.items())
        )
        return "".join(out)
