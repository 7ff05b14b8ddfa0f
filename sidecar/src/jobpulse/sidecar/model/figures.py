"""Derived figures of a job: execution time, rate, ETA, progress and CPU percent, at a given time.

They are computed from a JobState when read rather than stored, so the fold stays minimal; REST, the
live feed, the Prometheus renderer and the alert rules all read them from here. ``now_ns`` is the
sidecar's clock; the job's own timestamps come from the job's clock, so "now by the job's clock" is
estimated from when the sidecar last heard from it.
"""

from __future__ import annotations

from jobpulse.sidecar.model.state import COMPLETED, TERMINAL_STATUSES, JobState


def job_clock_now(state: JobState, now_ns: int) -> int:
    """Estimate "now" on the job's clock from the last event time and when it was received."""
    if state.last_ns is None:
        return now_ns
    if not state.last_seen_ns:
        return state.last_ns
    return max(state.last_ns, state.last_ns + (now_ns - state.last_seen_ns))


def execution_time_s(state: JobState, now_ns: int) -> float | None:
    """Seconds from start to end, or to now while the job is active."""
    started = state.begun_ns
    if started is None:
        return None
    ended = state.ended_ns if state.ended_ns is not None else job_clock_now(state, now_ns)
    return max(ended - started, 0) / 1e9


def waited_s(state: JobState) -> float | None:
    """Seconds the job waited in its queue, once that is over: start minus queued, or, for a job that
    ended without running, end minus queued. None for a job that was not queued or still waits."""
    if state.queued_ns is None:
        return None
    until = state.begun_ns
    if until is None:
        until = state.ended_ns
    return None if until is None else max(until - state.queued_ns, 0) / 1e9


def wait_s(state: JobState, now_ns: int) -> float | None:
    """Seconds the job waited in its queue, or has waited so far while it still waits.

    A job still waiting has sent nothing from its own clock, so its wait is measured against the
    sidecar's clock.
    """
    waited = waited_s(state)
    if waited is not None or state.queued_ns is None:
        return waited
    return max(now_ns - state.queued_ns, 0) / 1e9


def rate_per_s(state: JobState, now_ns: int) -> float | None:
    """Records per second: the whole run's average once ended, else over the recent sample window.

    When nothing has moved for longer than the window itself, the silence counts, so a stalled job's
    rate decays instead of freezing at its last value.
    """
    if state.status in TERMINAL_STATUSES:
        elapsed = execution_time_s(state, now_ns)
        return state.processed / elapsed if elapsed else None
    samples = state.samples
    if len(samples) < 2:
        return None
    _, t0, p0 = samples[0]
    _, t1, p1 = samples[-1]
    window = t1 - t0
    if window <= 0:
        return None
    silence = job_clock_now(state, now_ns) - t1
    if silence > window and silence > 1_000_000_000:
        window = t1 + silence - t0
    return max(p1 - p0, 0) / (window / 1e9)


def eta_s(state: JobState, rate: float | None) -> float | None:
    """Seconds until ``total`` at ``rate``; None when unknown or finished."""
    if state.status in TERMINAL_STATUSES or state.total is None or not rate:
        return None
    return max(state.total - state.processed, 0) / rate


def progress_percent(state: JobState) -> float | None:
    """Share of the declared total processed, 0 to 100; 100 for a completed job without a total."""
    if state.total:
        return round(min(state.processed / state.total, 1.0) * 100.0, 2)
    if state.status == COMPLETED:
        return 100.0
    return None


def cpu_percent(state: JobState) -> float | None:
    """CPU of the job's process at its latest resource sample, in percent of one core."""
    if state.resources is None or state.resources.cpu_utilization is None:
        return None
    return round(state.resources.cpu_utilization * 100.0, 2)
