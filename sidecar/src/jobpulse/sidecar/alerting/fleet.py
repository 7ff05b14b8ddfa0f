"""Fleet rules: what no single job shows. Failure rates over many runs, queues that grow or stall,
scheduled runs that never started, and a sidecar that falls behind (its live feed, its ingest, its
clients' connections).

They are evaluated on what can change them: a job's end for the failure rate, the alert ticker for
queues and for the sidecar's own figures, never on a progress record. The rules' thresholds are read
from the settings handed in at each evaluation; this module keeps only what the rules need to
remember (recent outcomes, snapshots of the sidecar's counters) and builds the conditions.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from itertools import islice
from typing import NamedTuple

from jobpulse.sidecar.alerting.config import (
    FeedConnectionFailuresRule,
    FeedDelayRule,
    FleetFailureRateRule,
    IngestLagRule,
    QueueDepthRule,
    QueueWaitRule,
)
from jobpulse.sidecar.alerting.model import Condition
from jobpulse.sidecar.alerting.rules import human_duration, key
from jobpulse.sidecar.feed.hub import FeedHub
from jobpulse.sidecar.ingest.receiver import IngestStats
from jobpulse.sidecar.latency import Window, merged_counts, quantile
from jobpulse.sidecar.model.queues import Waiting, waiting_by_queue, waiting_by_type
from jobpulse.sidecar.model.state import COMPLETED, FAILED, JobState
from jobpulse.sidecar.schedules.book import ScheduleBook, ScheduleStatus
from jobpulse.sidecar.schedules.config import JOB_NAME
from jobpulse.sidecar.schedules.state import MISSED
from jobpulse.sidecar.timestamps import to_datetime

FLEET_FAILURE_RATE = "fleet_failure_rate"
QUEUE_DEPTH = "queue_depth"
QUEUE_WAIT = "queue_wait"
FEED_DELAY = "feed_delay"
INGEST_LAG = "ingest_lag"
FEED_CONNECTION_FAILURES = "feed_connection_failures"
JOB_MISSED = "job_missed"

ALL_JOBS = "all"
NO_TYPE = "unknown"
NO_QUEUE = "(none)"
_NS = 1_000_000_000


class Check(NamedTuple):
    """One rule's verdict on one subject: the alert ``key`` should fire (``holds``) or resolve with
    ``reason``; ``build()`` makes the condition, and is called only to fire."""

    key: str
    holds: bool
    reason: str
    build: Callable[[], Condition | None]


class Outcome(NamedTuple):
    ended_ns: int
    failed: bool
    job_id: str


class Outcomes:
    """The latest outcomes (completed or failed) of the jobs of each scope: a job type, or all jobs."""

    def __init__(self) -> None:
        self._by_scope: dict[str, deque[Outcome]] = {}

    def add(self, scope: str, outcome: Outcome, keep: int) -> None:
        outcomes = self._by_scope.setdefault(scope, deque())
        outcomes.append(outcome)
        while len(outcomes) > keep:
            outcomes.popleft()

    def window(self, scope: str, rule: FleetFailureRateRule, now_ns: int) -> list[Outcome]:
        """The scope's last ``window_jobs`` outcomes that are at most ``window_s`` old."""
        outcomes = self._by_scope.get(scope, ())
        since_ns = now_ns - int(rule.window_s * _NS)
        # From the newest back: a scope may keep far more outcomes than one rule's window looks at.
        recent = [outcome for outcome in islice(reversed(outcomes), rule.window_jobs) if outcome.ended_ns >= since_ns]
        recent.reverse()
        return recent


def failure_ratio(window: list[Outcome], rule: FleetFailureRateRule) -> float | None:
    """The share of failed runs in ``window`` when it is above ``max_ratio`` with ``min_jobs`` runs."""
    if len(window) < rule.min_jobs:
        return None
    ratio = sum(1 for outcome in window if outcome.failed) / len(window)
    return ratio if ratio > rule.max_ratio else None


def _subject(scope: str) -> str:
    return ALL_JOBS if scope == ALL_JOBS else f"type:{scope}"


def fleet_failure_rate(scope: str, window: list[Outcome], rule: FleetFailureRateRule, tipping: str) -> Condition | None:
    """Too many of the scope's recent runs failed. The occurrence is the job whose end tipped it."""
    ratio = failure_ratio(window, rule)
    if ratio is None:
        return None
    failed = [outcome.job_id for outcome in window if outcome.failed]
    what = "all jobs" if scope == ALL_JOBS else f"jobs of type {scope}"
    summary = f"{ratio:.0%} of {what} failed: {len(failed)} of the last {len(window)} (threshold {rule.max_ratio:.0%})"
    lines = [
        summary + f", within {human_duration(rule.window_s)}.",
        "Failed job ids: " + ", ".join(failed[-10:]) + (" ..." if len(failed) > 10 else "") + ".",
        "A shared cause is likely: a remote service, a credential or a bad input source. Look at the "
        "failures' exception types in GET /api/analytics.",
    ]
    return Condition(
        rule=FLEET_FAILURE_RATE,
        key=key(FLEET_FAILURE_RATE, _subject(scope)),
        occurrence=tipping,
        summary=summary,
        description="\n".join(lines),
        details={
            "scope": scope,
            "ratio": ratio,
            "failed": len(failed),
            "jobs": len(window),
            "max_ratio": rule.max_ratio,
            "failed_job_ids": failed,
        },
        job_type=None if scope == ALL_JOBS else scope,
    )


def _queue_condition(
    rule: str, queue: str, waiting: Waiting, summary: str, lines: list[str], threshold: dict[str, float]
) -> Condition:
    # The occurrence is the job waiting longest: replicas folding the same events name it alike.
    return Condition(
        rule=rule,
        key=key(rule, queue),
        occurrence=waiting.oldest_job_id,
        summary=summary,
        description="\n".join(lines),
        details={
            "queue": queue,
            "pending": waiting.pending,
            "oldest_job_id": waiting.oldest_job_id,
            "oldest_wait_s": waiting.oldest_wait_s,
            **threshold,
        },
    )


def queue_depth(queue: str, waiting: Waiting, rule: QueueDepthRule) -> Condition:
    """More than ``max_pending`` jobs wait in ``queue``."""
    summary = f"Queue {queue}: {waiting.pending} jobs waiting (threshold {rule.max_pending})"
    lines = [
        summary + f"; the oldest has waited {human_duration(waiting.oldest_wait_s)} (job id {waiting.oldest_job_id}).",
        "Workers may be down, too few, or stuck on long jobs: check the consumers of this queue.",
    ]
    return _queue_condition(QUEUE_DEPTH, queue, waiting, summary, lines, {"max_pending": rule.max_pending})


def queue_wait(queue: str, waiting: Waiting, rule: QueueWaitRule) -> Condition:
    """The job waiting longest in ``queue`` has waited more than ``max_wait_s``."""
    summary = (
        f"Queue {queue}: a job has waited {human_duration(waiting.oldest_wait_s)} "
        f"(threshold {human_duration(rule.max_wait_s)})"
    )
    lines = [
        summary + f": job id {waiting.oldest_job_id}, {waiting.pending} job(s) waiting.",
        "Nothing takes jobs from this queue, or they are never announced as started: check its workers.",
    ]
    return _queue_condition(QUEUE_WAIT, queue, waiting, summary, lines, {"max_wait_s": rule.max_wait_s})


def schedule_subject(match: str, name: str) -> str:
    return f"{'name' if match == JOB_NAME else 'type'}:{name}"


def job_missed(status: ScheduleStatus) -> Condition:
    """A scheduled run did not start within its grace. The occurrence is the time it was due: each
    missed run is its own, and replicas agree on it."""
    schedule, last, found = status
    what = f"Job {schedule.name}" if schedule.match == JOB_NAME else f"A job of type {schedule.name}"
    timing = (
        f"cron {schedule.cron!r} ({schedule.timezone})"
        if schedule.cron
        else f"every {human_duration(schedule.every_s or 0)}"
    )
    expected = to_datetime(found.expected_ns)
    summary = (
        f"{what} did not start: a run was due at {expected:%Y-%m-%d %H:%M:%S} UTC "
        f"({timing}, grace {human_duration(schedule.grace_s)})"
    )
    previous = (
        f"The last run (job id {last.job_id}) started at {to_datetime(last.started_ns):%Y-%m-%d %H:%M:%S} UTC "
        f"and is {last.status}."
        if last
        else "No run of it is known."
    )
    lines = [
        summary + f"; the schedule is {schedule.source}.",
        previous,
        "Check whatever starts it (cron, systemd timer, scheduler): it may be disabled, failing before the "
        "job starts, or on a host that is down.",
    ]
    return Condition(
        rule=JOB_MISSED,
        key=key(JOB_MISSED, schedule_subject(schedule.match, schedule.name)),
        occurrence=str(found.expected_ns // _NS),
        summary=summary,
        description="\n".join(lines),
        details={
            "subject": schedule_subject(schedule.match, schedule.name),
            "schedule": schedule.name,
            "match": schedule.match,
            "source": schedule.source,
            "cron": schedule.cron,
            "every_s": schedule.every_s,
            "timezone": schedule.timezone,
            "grace_s": schedule.grace_s,
            "expected_ns": found.expected_ns,
            "last_job_id": last.job_id if last else None,
            "last_status": last.status if last else None,
        },
        job_name=schedule.name if schedule.match == JOB_NAME else None,
        job_type=None if schedule.match == JOB_NAME else schedule.name,
    )


def _sidecar_condition(
    rule: str, host: str, occurrence: str, summary: str, advice: str, details: dict[str, object]
) -> Condition:
    return Condition(
        rule=rule,
        key=key(rule, host),
        occurrence=occurrence,
        summary=summary,
        description=f"{summary}.\n{advice}",
        details=details,
        host=host,
    )


class Latency(NamedTuple):
    """A quantile over a window of a latency histogram, and how many observations it rests on."""

    seconds: float | None
    observations: int


class FleetWatch:
    """What the fleet rules remember between evaluations, and the evaluations themselves."""

    def __init__(
        self, host: str, hub: FeedHub | None, ingest: IngestStats | None, schedules: ScheduleBook | None = None
    ) -> None:
        self.host = host
        self.hub = hub
        self.ingest = ingest
        self.schedules = schedules
        self.outcomes = Outcomes()
        self._feed_delay = Window(0)
        self._ingest_queue = Window(0)
        self._connection_failures = Window(0)

    # ---- failure rate: on job ends --------------------------------------------------------------

    def job_ended(self, state: JobState, now_ns: int, rule: FleetFailureRateRule) -> list[Check]:
        """Count a completed or failed job; the failure-rate verdicts of its scopes."""
        if state.status not in (COMPLETED, FAILED):
            return []
        outcome = Outcome(now_ns, state.status == FAILED, state.id)
        checks = []
        for scope in self._scopes_of(state, rule):
            self.outcomes.add(scope, outcome, rule.window_jobs)
            checks.append(self._failure_check(scope, rule, now_ns, state.id))
        return checks

    @staticmethod
    def _scopes_of(state: JobState, rule: FleetFailureRateRule) -> list[str]:
        return [state.job_type or NO_TYPE if scope == "job_type" else ALL_JOBS for scope in rule.scopes]

    def _failure_check(self, scope: str, rule: FleetFailureRateRule, now_ns: int, tipping: str) -> Check:
        window = self.outcomes.window(scope, rule, now_ns)
        return Check(
            key(FLEET_FAILURE_RATE, _subject(scope)),
            failure_ratio(window, rule) is not None,
            "the share of failed runs is back at or under its threshold"
            if window
            else "no recent run is left to judge",
            lambda: fleet_failure_rate(scope, window, rule, tipping),
        )

    def aged_failure_rates(self, rule: FleetFailureRateRule, now_ns: int, firing: Iterable[str]) -> list[Check]:
        """The failure rates of the ``firing`` scopes judged again, as old outcomes leave the window.

        After a restart the window is empty until jobs end again: an alert read back resolves.
        """
        return [self._failure_check(scope, rule, now_ns, "") for scope in firing]

    # ---- queues: on the ticker ------------------------------------------------------------------

    def queues(
        self,
        states: Iterable[JobState],
        now_ns: int,
        depth: QueueDepthRule | None,
        wait: QueueWaitRule | None,
        firing: Iterable[str],
    ) -> list[Check]:
        """Depth and wait of every queue with a job waiting, and of the ``firing`` ones (to resolve)."""
        by_queue = {
            (queue or NO_QUEUE): waiting for queue, waiting in waiting_by_queue(waiting_by_type(states, now_ns)).items()
        }
        checks = []
        for queue in set(firing) | set(by_queue):
            waiting = by_queue.get(queue)
            if depth is not None:
                checks.append(
                    Check(
                        key(QUEUE_DEPTH, queue),
                        waiting is not None and waiting.pending > depth.max_pending,
                        "the queue is back at or under its threshold",
                        lambda queue=queue, waiting=waiting: queue_depth(queue, waiting, depth),
                    )
                )
            if wait is not None:
                checks.append(
                    Check(
                        key(QUEUE_WAIT, queue),
                        waiting is not None and waiting.oldest_wait_s > wait.max_wait_s,
                        "no job in the queue has waited that long any more",
                        lambda queue=queue, waiting=waiting: queue_wait(queue, waiting, wait),
                    )
                )
        return checks

    # ---- schedules: on the ticker ---------------------------------------------------------------

    def missed_runs(self, now_ns: int, firing: Iterable[str]) -> list[Check]:
        """Every schedule's verdict, and the ``firing`` subjects' whose schedule is gone (to resolve)."""
        if self.schedules is None:
            return []
        checks = []
        judged = set()
        for status in self.schedules.statuses(now_ns):
            subject = schedule_subject(status.schedule.match, status.schedule.name)
            judged.add(subject)
            last = status.last
            reason = f"a run started (job id {last.job_id})" if last else "the run is no longer due"
            checks.append(
                Check(
                    key(JOB_MISSED, subject),
                    status.due.state == MISSED,
                    reason,
                    lambda status=status: job_missed(status),
                )
            )
        checks += [
            Check(key(JOB_MISSED, subject), False, "its schedule was removed", lambda: None)
            for subject in set(firing) - judged
        ]
        return checks

    # ---- the sidecar itself: on the ticker ------------------------------------------------------

    @staticmethod
    def _latency(window: Window, window_s: float, histograms: list, q: float, now_ns: int) -> Latency:
        window.span_ns = int(window_s * _NS)
        counts = window.add(now_ns, merged_counts(histograms))
        observed = int(sum(counts))
        bounds = histograms[0].bounds if histograms else ()
        return Latency(quantile(bounds, counts, q) if observed else None, observed)

    def feed_delay(self, rule: FeedDelayRule, now_ns: int) -> list[Check]:
        if self.hub is None:
            return []
        latency = self._latency(
            self._feed_delay, rule.window_s, list(self.hub.send_delay.values()), rule.quantile, now_ns
        )
        holds = latency.observations >= rule.min_frames and (latency.seconds or 0.0) > rule.max_delay_s

        def build() -> Condition:
            seconds = latency.seconds or 0.0
            return _sidecar_condition(
                FEED_DELAY,
                self.host,
                str(now_ns // _NS),
                f"Live feed on {self.host} is slow: p{rule.quantile * 100:.0f} delay {seconds * 1000:.0f} ms from "
                f"ingest to clients over {human_duration(rule.window_s)} (threshold {rule.max_delay_s * 1000:.0f} ms)",
                "Clients see jobs late. The sidecar may be short of CPU (see fold lag and ingest rate on the Sidecar "
                "health dashboard), or serving too many clients.",
                {
                    "seconds": seconds,
                    "quantile": rule.quantile,
                    "frames": latency.observations,
                    "max_delay_s": rule.max_delay_s,
                },
            )

        return [Check(key(FEED_DELAY, self.host), holds, "the live feed's delay is back under its threshold", build)]

    def ingest_lag(self, rule: IngestLagRule, now_ns: int) -> list[Check]:
        if self.ingest is None:
            return []
        latency = self._latency(self._ingest_queue, rule.window_s, [self.ingest.queue_time], rule.quantile, now_ns)
        holds = latency.observations >= rule.min_requests and (latency.seconds or 0.0) > rule.max_queue_s

        def build() -> Condition:
            seconds = latency.seconds or 0.0
            return _sidecar_condition(
                INGEST_LAG,
                self.host,
                str(now_ns // _NS),
                f"Ingest on {self.host} is behind: OTLP requests waited {seconds:.2f} s "
                f"(p{rule.quantile * 100:.0f} over {human_duration(rule.window_s)}; "
                f"threshold {rule.max_queue_s:.2f} s)",
                "Jobs' records queue up before they are folded: everything the sidecar shows is late. Give it more "
                "CPU, or spread jobs over more sidecars.",
                {
                    "seconds": seconds,
                    "quantile": rule.quantile,
                    "requests": latency.observations,
                    "max_queue_s": rule.max_queue_s,
                },
            )

        return [Check(key(INGEST_LAG, self.host), holds, "OTLP requests no longer queue up", build)]

    def feed_connection_failures(self, rule: FeedConnectionFailuresRule, now_ns: int) -> list[Check]:
        if self.hub is None:
            return []
        window = self._connection_failures
        window.span_ns = int(rule.window_s * _NS)
        (failures,) = window.add(now_ns, (self.hub.connection_failures,))
        limit = rule.max_per_minute * rule.window_s / 60

        def build() -> Condition:
            return _sidecar_condition(
                FEED_CONNECTION_FAILURES,
                self.host,
                str(now_ns // _NS),
                f"Live-feed connections on {self.host} are failing: {failures:.0f} failed handshakes, forced resyncs "
                f"and dropped clients in {human_duration(rule.window_s)} (threshold {rule.max_per_minute:g} a minute)",
                "See jobpulse_sidecar_feed_handshake_failures_total by reason and jobpulse_sidecar_feed_resyncs_total "
                "by cause: clients too slow for the feed, a proxy cutting connections, or bad connect parameters.",
                {"failures": failures, "window_s": rule.window_s, "max_per_minute": rule.max_per_minute},
            )

        return [
            Check(
                key(FEED_CONNECTION_FAILURES, self.host),
                failures > limit,
                "live-feed connections no longer fail that often",
                build,
            )
        ]
