"""The rules, as pure functions: a job state (or a host sample) in, a Condition or None out.

No I/O and no memory of their own: the engine decides when to call them (on events for the cheap
event-driven ones, on its ticker for the time-driven ones) and owns the alert lifecycle.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from jobpulse.sidecar.alerting.config import (
    ErrorRateRule,
    ExpectedDurations,
    JobFailedRule,
    JobPredictedOverrunRule,
    JobStalledRule,
    ResourcePressureRule,
)
from jobpulse.sidecar.alerting.hints import HintBook
from jobpulse.sidecar.alerting.model import Condition
from jobpulse.sidecar.model import figures
from jobpulse.sidecar.model.state import FAILED, LOST, PAUSED, RUNNING, JobState
from jobpulse.sidecar.timestamps import to_datetime

JOB_FAILED = "job_failed"
JOB_OVERDUE = "job_overdue"
JOB_PREDICTED_OVERRUN = "job_predicted_overrun"
JOB_STALLED = "job_stalled"
JOB_LOST = "job_lost"
RESOURCE_PRESSURE = "resource_pressure"
ERROR_RATE = "error_rate"

MB = 1024 * 1024


class Expected(NamedTuple):
    """A job's expected duration and where it came from (job, by_name, by_type, history or default)."""

    seconds: float
    source: str


class HostSample(NamedTuple):
    """One psutil reading of the sidecar's host; None where it could not be read."""

    host: str
    memory_percent: float | None
    disk_percent: float | None
    cpu_percent: float | None


def human_duration(seconds: float) -> str:
    """``42.0 s``, ``12m 5s``, ``3h 20m``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes}m"


def key(rule: str, subject: str) -> str:
    return f"{rule}:{subject}"


def label(state: JobState) -> str:
    return state.name or state.id


def _job_condition(
    state: JobState,
    rule: str,
    occurrence: str,
    summary: str,
    lines: list[str],
    details: dict[str, Any],
    subject: str | None = None,
) -> Condition:
    """A condition about one job, with the job's identity in the details and the description."""
    where = [f"job id {state.id}"]
    if state.job_type:
        where.append(f"type {state.job_type}")
    if state.host:
        where.append(f"host {state.host}" + (f" (pid {state.pid})" if state.pid else ""))
    if state.owner:
        where.append(f"owner {state.owner}")
    identity = {
        "job_id": state.id,
        "job_name": state.name,
        "job_type": state.job_type,
        "owner": state.owner,
        "host": state.host,
        "pid": state.pid,
        "service": state.service,
        "trace_id": state.trace_id,
        "processed": state.processed,
        "failed": state.failed,
        "total": state.total,
    }
    return Condition(
        rule=rule,
        key=key(rule, subject or state.id),
        occurrence=occurrence,
        summary=summary,
        description="\n".join([*lines, ", ".join(where).capitalize() + "."]),
        details={**identity, **details},
        job_id=state.id,
        job_name=state.name,
        job_type=state.job_type,
        job_status=state.status,
        host=state.host,
    )


def _counts(state: JobState) -> str:
    of_total = f" of {state.total}" if state.total is not None else ""
    return f"Processed {state.processed}{of_total} records, {state.failed} failed."


def job_failed(state: JobState, rule: JobFailedRule, hints: HintBook) -> Condition | None:
    """The job ended with status ``failed``: what failed, where, the last log lines, what to do."""
    if state.status != FAILED:
        return None
    error = state.error
    error_type = error.type if error else None
    message = error.message if error else None
    step = error.step if error and error.step else state.step
    elapsed = figures.execution_time_s(state, state.last_seen_ns)
    actions = hints.suggest(error_type, message)
    logs = (
        [
            f"{to_datetime(line.time_ns):%H:%M:%S} {line.level.upper()} {line.message}"
            for line in state.logs[-rule.log_lines :]
        ]
        if rule.log_lines
        else []
    )
    headline = ": ".join(part for part in (error_type, message) if part) or "no error details were sent"
    lines = [
        f"Job {label(state)} failed"
        + (f" in step {step!r}" if step else "")
        + (f" after {human_duration(elapsed)}" if elapsed is not None else "")
        + ".",
        headline,
        _counts(state),
    ]
    if logs:
        lines += ["", "Last log lines:", *(f"  {line}" for line in logs)]
    lines += ["", "Suggested actions:", *(f"  - {action}" for action in actions), ""]
    summary = f"Job {label(state)} failed" + (f" in step {step!r}" if step else "") + f": {headline}"
    details = {
        "error_type": error_type,
        "error_message": message,
        "step": step,
        "duration_s": elapsed,
        "log_lines": logs,
        "suggested_actions": actions,
    }
    return _job_condition(state, JOB_FAILED, "end", summary, lines, details)


def expected_duration(state: JobState, durations: ExpectedDurations, learned: Mapping[str, float]) -> Expected | None:
    """The job's own expected duration, else the configured one by name or type, else learned p95 x factor,
    else the configured default."""
    if state.expected_duration_s:
        return Expected(state.expected_duration_s, "job")
    if state.name in durations.by_name:
        return Expected(durations.by_name[state.name], "by_name")
    if state.job_type in durations.by_type:
        return Expected(durations.by_type[state.job_type], "by_type")
    if durations.learn_from_history and state.name in learned:
        return Expected(learned[state.name] * durations.history_factor, "history")
    if durations.default_s is not None:
        return Expected(durations.default_s, "default")
    return None


def job_overdue(state: JobState, now_ns: int, expected: Expected | None) -> Condition | None:
    """The job has been running longer than expected. It can happen once per run."""
    if expected is None or state.status not in (RUNNING, PAUSED):
        return None
    elapsed = figures.execution_time_s(state, now_ns)
    if elapsed is None or elapsed <= expected.seconds:
        return None
    summary = (
        f"Job {label(state)} is overdue: running for {human_duration(elapsed)}, "
        f"expected {human_duration(expected.seconds)}"
    )
    lines = [
        summary + f" (from {expected.source}).",
        _counts(state) + (f" Current step: {state.step}." if state.step else ""),
        "Check whether it waits on a lock, a slow upstream or an unusually large input.",
    ]
    details = {
        "elapsed_s": elapsed,
        "expected_s": expected.seconds,
        "expected_source": expected.source,
        "step": state.step,
        "progress_percent": figures.progress_percent(state),
    }
    return _job_condition(state, JOB_OVERDUE, "run", summary, lines, details)


def job_predicted_overrun(
    state: JobState, now_ns: int, expected: Expected | None, rule: JobPredictedOverrunRule
) -> Condition | None:
    """At its current rate the job will finish past its expected duration, and it has not yet overrun."""
    if expected is None or state.status != RUNNING:
        return None
    elapsed = figures.execution_time_s(state, now_ns)
    if elapsed is None or elapsed < rule.min_elapsed_s or elapsed >= expected.seconds:
        return None
    rate = figures.rate_per_s(state, now_ns)
    eta = figures.eta_s(state, rate)
    if eta is None:
        return None
    projected = elapsed + eta
    if projected <= expected.seconds * (1 + rule.tolerance):
        return None
    summary = (
        f"Job {label(state)} will overrun: projected {human_duration(projected)}, "
        f"expected {human_duration(expected.seconds)}"
    )
    lines = [
        summary + f" (from {expected.source}).",
        f"{_counts(state)} At {rate:.1f} records/s it needs about {human_duration(eta)} more.",
        "Warn whoever waits for its output, or give it more resources now.",
    ]
    details = {
        "elapsed_s": elapsed,
        "eta_s": eta,
        "projected_s": projected,
        "expected_s": expected.seconds,
        "expected_source": expected.source,
        "rate_per_s": rate,
    }
    return _job_condition(state, JOB_PREDICTED_OVERRUN, "run", summary, lines, details)


def stalled_for(state: JobState, unchanged_since_ns: int, now_ns: int, rule: JobStalledRule) -> float | None:
    """Seconds a running job has not advanced, once that is ``rule.after_s`` or more."""
    if state.status != RUNNING:
        return None
    stalled_s = (now_ns - unchanged_since_ns) / 1e9
    return stalled_s if stalled_s >= rule.after_s else None


def job_stalled(state: JobState, unchanged_since_ns: int, now_ns: int, rule: JobStalledRule) -> Condition | None:
    """A running job whose processed count has not changed for ``rule.after_s`` (it may still heartbeat).

    The occurrence is the count it is stuck at plus the seq of its latest start/resume, so a job that
    stalls, moves on and stalls again raises a new occurrence, and replicas agree on it.
    """
    stalled_s = stalled_for(state, unchanged_since_ns, now_ns, rule)
    if stalled_s is None:
        return None
    resumed_seq = state.status_register[0][0] if state.status_register else 0
    summary = f"Job {label(state)} is stalled: no progress for {human_duration(stalled_s)} at {state.processed} records"
    alive = to_datetime(state.last_seen_ns or None)
    lines = [
        summary + (f" in step {state.step!r}." if state.step else "."),
        f"It was last heard from at {alive:%H:%M:%S} UTC: alive but not advancing." if alive else "",
        "Look for a lock, a hung network call or an endless retry in its last log lines.",
    ]
    details = {"stalled_s": stalled_s, "step": state.step, "threshold_s": rule.after_s}
    return _job_condition(
        state, JOB_STALLED, f"{state.processed}@{resumed_seq}", summary, [line for line in lines if line], details
    )


def job_lost(state: JobState, now_ns: int) -> Condition | None:
    """The sidecar marked the job lost: nothing heard within its heartbeat window."""
    if state.status != LOST:
        return None
    silent_s = (now_ns - state.last_seen_ns) / 1e9 if state.last_seen_ns else None
    summary = f"Job {label(state)} is lost: nothing heard from it" + (
        f" for {human_duration(silent_s)}" if silent_s is not None else ""
    )
    lines = [
        summary + f" (it was {state.previous_status or RUNNING}).",
        _counts(state) + (f" Last step: {state.step}." if state.step else ""),
        "Its process may have died without reporting (killed, out of memory, host down): check the host.",
    ]
    details = {"silent_s": silent_s, "step": state.step, "previous_status": state.previous_status}
    return _job_condition(state, JOB_LOST, f"lost{state.lost_seq}", summary, lines, details)


def error_ratio(state: JobState, rule: ErrorRateRule) -> float | None:
    """The job's failed/processed ratio when it is above ``max_ratio`` after ``min_processed`` records."""
    if state.is_terminal or state.processed < rule.min_processed:
        return None
    ratio = state.failed / state.processed
    return ratio if ratio > rule.max_ratio else None


def error_rate(state: JobState, rule: ErrorRateRule) -> Condition | None:
    """Failed/processed above ``max_ratio`` once ``min_processed`` records are done.

    The occurrence is the processed count at which the ratio was found too high: replicas folding the
    same events cross the threshold at the same count.
    """
    ratio = error_ratio(state, rule)
    if ratio is None:
        return None
    summary = (
        f"Job {label(state)}: {ratio:.1%} of records failed "
        f"({state.failed} of {state.processed}; threshold {rule.max_ratio:.1%})"
    )
    lines = [summary + ".", "Look at the job's warnings for the rejected records; the input may be malformed."]
    details = {"ratio": ratio, "max_ratio": rule.max_ratio}
    return _job_condition(state, ERROR_RATE, f"at{state.processed}", summary, lines, details)


def job_rss_mb(state: JobState, rule: ResourcePressureRule) -> float | None:
    """The job's resident memory in MB when it is above ``job_rss_mb``."""
    resources = state.resources
    if (
        not rule.job_rss_mb
        or state.is_terminal
        or resources is None
        or resources.rss_bytes is None
        or resources.rss_bytes <= rule.job_rss_mb * MB
    ):
        return None
    return resources.rss_bytes / MB


def job_memory(state: JobState, rule: ResourcePressureRule) -> Condition | None:
    """The job's resident memory above ``job_rss_mb``."""
    rss_mb = job_rss_mb(state, rule)
    if rss_mb is None:
        return None
    summary = f"Job {label(state)} uses {rss_mb:.0f} MB of memory (threshold {rule.job_rss_mb:.0f} MB)"
    lines = [summary + ".", "It may be loading too much at once; check it is not about to be killed."]
    details = {"resource": "job_rss", "rss_mb": rss_mb, "threshold_mb": rule.job_rss_mb}
    return _job_condition(
        state, RESOURCE_PRESSURE, f"rss{state.resources_seq}", summary, lines, details, subject=f"job:{state.id}"
    )


def host_pressure(
    sample: HostSample, running_jobs: int, rule: ResourcePressureRule, occurrence: str
) -> dict[str, Condition | None]:
    """For each host resource with a threshold: the condition when it is beyond, else None.

    Only while jobs run (``running_jobs`` > 0): pressure on an idle host is not a job's problem.
    """
    readings = (
        ("memory", sample.memory_percent, rule.memory_percent),
        ("disk", sample.disk_percent, rule.disk_percent),
        ("cpu", sample.cpu_percent, rule.cpu_percent),
    )
    found: dict[str, Condition | None] = {}
    for resource, value, threshold in readings:
        if not threshold:
            continue
        subject = f"host:{sample.host}:{resource}"
        if value is None or running_jobs == 0 or value <= threshold:
            found[key(RESOURCE_PRESSURE, subject)] = None
            continue
        where = f" ({rule.disk_path})" if resource == "disk" else ""
        summary = (
            f"Host {sample.host}: {resource}{where} at {value:.0f}% (threshold {threshold:.0f}%) "
            f"while {running_jobs} job(s) run"
        )
        found[key(RESOURCE_PRESSURE, subject)] = Condition(
            rule=RESOURCE_PRESSURE,
            key=key(RESOURCE_PRESSURE, subject),
            occurrence=occurrence,
            summary=summary,
            description=summary + ".\nJobs on this host may slow down or be killed; free the resource or move work.",
            details={
                "resource": resource,
                "percent": value,
                "threshold_percent": threshold,
                "running_jobs": running_jobs,
                "path": rule.disk_path if resource == "disk" else None,
            },
            host=sample.host,
        )
    return found
