"""The fold: a pure function applying one JobEvent to a JobState.

Rules (docs/conventions.md, "Ordering and idempotency"):

- An event whose seq was seen before changes nothing at all (exact duplicate).
- A queued announcement numbers its own seqs (whoever queued the job does): the lowest one gives the
  queue, priority and queued time, and the job's identity until a start brings the job's own. A job
  is ``pending`` from its announcement until a start (or pause, or resume) arrives.
- Each group of scalar fields (counts, total, current step, resources) is a last-writer-wins
  register keyed by seq: an event only writes a group when its seq is higher than the group's.
- Start attributes, origin (host/pid/service) and the trace link come from the lowest seq carrying them.
- The end event with the lowest seq makes the status final, and the figures (counts, current step,
  step timings, resources, status events) with it: they take only events with seq up to the end's,
  whether those with higher seqs arrive before the end or after it. Later events may still add log
  lines. Checkpoints of the figures below each gap in the seen seqs make this order-independent.
- Step timings, log lines and log counts are merged with commutative operations (min, max, sum over
  distinct events), and recent log lines are the newest N by seq.

Together these make the final state a function of the *set* of events, whatever their order and
however often each arrives. No I/O and no clock here: the time of every fact comes with the event.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any

import msgspec

from jobpulse.conventions import STEP_FAILED, STEP_STARTED
from jobpulse.sidecar.model.events import (
    INT64_MAX,
    KIND_CONTROL,
    KIND_END,
    KIND_LOG,
    KIND_LOST,
    KIND_PAUSED,
    KIND_PROGRESS,
    KIND_QUEUED,
    KIND_RESOURCES,
    KIND_RESUMED,
    KIND_START,
    KIND_STEP,
    LEVEL_NUMBERS,
    JobEvent,
)
from jobpulse.sidecar.model.state import (
    FAILED,
    LOST,
    PAUSED,
    PENDING,
    RUNNING,
    Checkpoint,
    ErrorInfo,
    Figures,
    JobState,
    LogLine,
    Resources,
    StepTiming,
)

_replace = msgspec.structs.replace

_STATUS_OF_KIND = {KIND_START: RUNNING, KIND_PAUSED: PAUSED, KIND_RESUMED: RUNNING}
_FIGURE_FIELDS = tuple(field.name for field in msgspec.structs.fields(Figures))
_NO_FIGURES = Figures()


class FoldLimits(msgspec.Struct, frozen=True):
    """Bounds on what one JobState keeps in memory."""

    recent_logs: int = 10
    rate_samples: int = 12
    seen_ranges: int = 256
    log_message_chars: int = 8192


DEFAULT_LIMITS = FoldLimits()


def fold(state: JobState | None, event: JobEvent, limits: FoldLimits = DEFAULT_LIMITS) -> JobState:
    """Apply ``event`` to ``state`` (``None`` for a job not seen yet) and return the new state.

    Returns ``state`` itself when the event changes nothing, so callers can test ``new is old``.
    """
    if state is None:
        state = JobState(id=event.job_id)
    if event.kind == KIND_LOST:
        return _fold_lost(state, event)
    if event.kind == KIND_CONTROL:
        return _fold_control(state, event)
    if event.kind == KIND_QUEUED:
        return _fold_queued(state, event)

    seq = event.seq
    if event.kind == KIND_PROGRESS and _next_in_order(state, event):
        return _fold_next_progress(state, event, limits)
    if _seen(state.seen, seq):
        return state

    changes: dict[str, Any] = {"seen": _add_seen(state.seen, seq, limits.seen_ranges)}
    if seq > state.max_seq:
        changes["max_seq"] = seq
    _merge_times(state, event, changes)
    _merge_origin(state, event, changes)
    if event.command_id is not None and event.command_id > state.control_ack_id:
        changes["control_ack_id"] = event.command_id

    kind = event.kind
    if kind == KIND_LOG:
        _merge_log(state, event, changes, limits)
    else:
        _merge_identity(state, event, changes)
        if kind == KIND_START and (not state.start_seq or seq < state.start_seq):
            changes["start_seq"] = seq
            changes["started_ns"] = event.time_ns
        elif kind == KIND_END:
            _merge_end(state, event, changes)
    _fold_figures(state, event, changes, limits)
    return _with_status(state, changes)


def _next_in_order(state: JobState, event: JobEvent) -> bool:
    """Whether ``event`` is the next seq of a running job that has not ended nor been marked lost,
    and carries nothing but progress: what nearly every record is, and what `_fold_next_progress`
    folds."""
    seen = state.seen
    return (
        bool(seen)
        and event.seq == seen[-1][1] + 1
        and not state.end_seq
        and not state.lost_seq
        and event.name is None
        and event.command_id is None
    )


def _fold_next_progress(state: JobState, event: JobEvent, limits: FoldLimits) -> JobState:
    """`fold` of a progress event for which `_next_in_order` holds, without the general path's
    bookkeeping.

    Its seq is above every seq the state holds, so each register it carries takes it, the seen ranges
    grow at the top, no checkpoint changes and the status stays: the outcome is the general path's.
    """
    seq = event.seq
    seen = state.seen
    changes: dict[str, Any] = {"seen": (*seen[:-1], (seen[-1][0], seq)), "max_seq": seq}
    _merge_times(state, event, changes)
    if not state.origin_seq or not state.trace_seq:
        _merge_origin(state, event, changes)
    processed = event.processed
    if processed is not None:
        changes["processed"] = processed
        changes["counts_seq"] = seq
        samples = (*state.samples, (seq, event.time_ns, processed))
        changes["samples"] = samples[-limits.rate_samples :] if len(samples) > limits.rate_samples else samples
    if event.failed is not None:
        changes["failed"] = event.failed
        changes["failed_seq"] = seq
    if event.total is not None:
        changes["total"] = event.total
        changes["total_seq"] = seq
    if event.step is not None:
        changes["step"] = event.step
        changes["step_index"] = event.step_index
        changes["step_seq"] = seq
    if event.step_count is not None and (state.step_count is None or event.step_count > state.step_count):
        changes["step_count"] = event.step_count
    return _replace(state, **changes)


def _fold_figures(state: JobState, event: JobEvent, changes: dict[str, Any], limits: FoldLimits) -> None:
    """Fold ``event`` into the figures, which take no event with a seq above the end.

    An end may arrive after records with higher seqs; the figures then start again from the
    checkpoint below the gap the end fills. Only a seq that is not the next one since the last
    seen touches the checkpoints, so in-order arrival costs nothing extra.
    """
    seq = event.seq
    seen = state.seen
    top = seen[-1][1] if seen else 0
    end = changes.get("end_seq", state.end_seq)
    if seen and seq != top + 1:
        checkpoints = _checkpoints(state, event, changes["seen"], end, limits)
        if checkpoints or state.checkpoints:
            changes["checkpoints"] = checkpoints
    if event.kind == KIND_LOG or (end and seq > end):
        return
    base: Figures = state
    if seq == end and seq < top:
        base = _figures_upto(state, seq - 1)
        changes.update(_fields_of(base))
    _merge_figures(base, event, changes, limits)


def _merge_figures(figures: Figures, event: JobEvent, changes: dict[str, Any], limits: FoldLimits) -> None:
    kind = event.kind
    _merge_counts(figures, event, changes, limits)
    _merge_current_step(figures, event, changes)
    if kind in _STATUS_OF_KIND:
        changes["status_register"] = _register(figures.status_register, event.seq, _STATUS_OF_KIND[kind])
    elif kind == KIND_STEP:
        _merge_step_timing(figures, event, changes)
    elif kind == KIND_RESOURCES:
        _merge_resources(figures, event, changes)


def _checkpoints(
    state: JobState, event: JobEvent, seen: tuple[tuple[int, int], ...], end: int, limits: FoldLimits
) -> tuple[Checkpoint, ...]:
    """The checkpoints once ``event`` is in: one per seen range below the last and below the end."""
    made = []
    carries_figures = event.kind != KIND_LOG
    for _, upto in seen[:-1]:
        if end and upto >= end:
            break
        base = _figures_upto(state, upto)
        if carries_figures and event.seq <= upto:
            fields = _fields_of(base)
            _merge_figures(base, event, fields, limits)
            made.append(Checkpoint(upto=upto, **fields))
        elif type(base) is Checkpoint and base.upto == upto:
            made.append(base)
        else:
            made.append(Checkpoint(upto=upto, **_fields_of(base)))
    return tuple(made)


def _figures_upto(state: JobState, upto: int) -> Figures:
    """The figures of the events ``state`` holds with seq <= ``upto``, ``upto`` being a range top
    or unseen."""
    if upto >= state.seen[-1][1]:
        return state
    checkpoints = state.checkpoints
    index = bisect_right(checkpoints, upto, key=_upto) - 1
    return checkpoints[index] if index >= 0 else _NO_FIGURES


def _upto(checkpoint: Checkpoint) -> int:
    return checkpoint.upto


def _fields_of(figures: Figures) -> dict[str, Any]:
    return {name: getattr(figures, name) for name in _FIGURE_FIELDS}


def _fold_lost(state: JobState, event: JobEvent) -> JobState:
    if state.end_seq or event.seq <= state.lost_seq:
        return state
    return _with_status(state, {"lost_seq": event.seq})


def _fold_control(state: JobState, event: JobEvent) -> JobState:
    # Commands have ids of their own: the newest request wins, and re-delivering one changes nothing.
    if event.seq <= state.control_id:
        return state
    return _replace(
        state,
        control_id=event.seq,
        control_action=event.action,
        control_requested_ns=event.time_ns,
        control_actor=event.actor,
        control_reason=event.reason,
    )


def _fold_queued(state: JobState, event: JobEvent) -> JobState:
    # The lowest announcement wins, whatever order they arrive in; the same one again changes nothing.
    if state.queued_seq and event.seq >= state.queued_seq:
        return state
    changes: dict[str, Any] = {
        "queued_seq": event.seq,
        "queued_ns": event.time_ns,
        "queue": event.queue,
        "priority": event.priority,
    }
    # Only until the job's own records name it: ident_seq stays 0, so any start replaces it.
    if not state.ident_seq:
        changes.update(
            name=event.name, job_type=event.job_type, owner=event.owner, expected_duration_s=event.expected_duration_s
        )
    return _with_status(state, changes)


def _seen(ranges: tuple[tuple[int, int], ...], seq: int) -> bool:
    if not ranges:
        return False
    lo, hi = ranges[-1]
    if seq > hi:
        return False
    if seq >= lo:
        return True
    index = bisect_right(ranges, (seq, float("inf"))) - 1
    return index >= 0 and ranges[index][0] <= seq <= ranges[index][1]


def _add_seen(ranges: tuple[tuple[int, int], ...], seq: int, cap: int) -> tuple[tuple[int, int], ...]:
    if ranges:
        lo, hi = ranges[-1]
        if seq == hi + 1:
            return (*ranges[:-1], (lo, seq))
        if seq > hi + 1:
            merged = (*ranges, (seq, seq))
            return merged if len(merged) <= cap else ((merged[0][0], merged[1][1]), *merged[2:])
    index = bisect_right(ranges, (seq, float("inf")))
    before = ranges[:index]
    after = ranges[index:]
    lo = hi = seq
    if before and before[-1][1] + 1 == seq:
        lo = before[-1][0]
        before = before[:-1]
    if after and after[0][0] - 1 == seq:
        hi = after[0][1]
        after = after[1:]
    merged = (*before, (lo, hi), *after)
    return merged if len(merged) <= cap else ((merged[0][0], merged[1][1]), *merged[2:])


def _merge_times(state: JobState, event: JobEvent, changes: dict[str, Any]) -> None:
    t = event.time_ns
    if state.first_ns is None or t < state.first_ns:
        changes["first_ns"] = t
    if state.last_ns is None or t > state.last_ns:
        changes["last_ns"] = t
    if event.received_ns > state.last_seen_ns:
        changes["last_seen_ns"] = event.received_ns


def _merge_origin(state: JobState, event: JobEvent, changes: dict[str, Any]) -> None:
    seq = event.seq
    if (event.host is not None or event.service is not None or event.pid is not None) and (
        not state.origin_seq or seq < state.origin_seq
    ):
        changes.update(host=event.host, service=event.service, pid=event.pid, origin_seq=seq)
    if event.trace_id and (not state.trace_seq or seq < state.trace_seq):
        changes.update(trace_id=event.trace_id, span_id=event.span_id, trace_seq=seq)


def _merge_identity(state: JobState, event: JobEvent, changes: dict[str, Any]) -> None:
    if event.name is None or (state.ident_seq and event.seq > state.ident_seq):
        return
    changes.update(
        name=event.name,
        job_type=event.job_type,
        owner=event.owner,
        expected_duration_s=event.expected_duration_s,
        heartbeat_interval_s=event.heartbeat_interval_s,
        step_names=event.step_names,
        attributes=event.attributes,
        ident_seq=event.seq,
    )


def _merge_counts(figures: Figures, event: JobEvent, changes: dict[str, Any], limits: FoldLimits) -> None:
    seq = event.seq
    if event.processed is not None and seq > figures.counts_seq:
        changes.update(processed=event.processed, counts_seq=seq)
    if event.failed is not None and seq > figures.failed_seq:
        changes.update(failed=event.failed, failed_seq=seq)
    if event.processed is not None:
        samples = _add_sample(figures.samples, (seq, event.time_ns, event.processed), limits.rate_samples)
        if samples is not figures.samples:
            changes["samples"] = samples
    if event.total is not None and seq > figures.total_seq:
        changes.update(total=event.total, total_seq=seq)


def _add_sample(
    samples: tuple[tuple[int, int, int], ...], sample: tuple[int, int, int], cap: int
) -> tuple[tuple[int, int, int], ...]:
    if not samples or sample[0] > samples[-1][0]:
        merged = (*samples, sample)
    else:
        if len(samples) >= cap and sample[0] < samples[0][0]:
            return samples
        index = bisect_right(samples, sample)
        merged = (*samples[:index], sample, *samples[index:])
    return merged[-cap:] if len(merged) > cap else merged


def _merge_current_step(figures: Figures, event: JobEvent, changes: dict[str, Any]) -> None:
    if event.step is not None and event.seq > figures.step_seq:
        changes.update(step=event.step, step_index=event.step_index, step_seq=event.seq)
    # The number of declared steps does not change during a run; max() keeps it order-independent.
    if event.step_count is not None and (figures.step_count is None or event.step_count > figures.step_count):
        changes["step_count"] = event.step_count


def _merge_step_timing(figures: Figures, event: JobEvent, changes: dict[str, Any]) -> None:
    name = event.step
    if name is None:
        return
    steps = list(figures.steps)
    position = next((index for index, timing in enumerate(steps) if timing.name == name), len(steps))
    if position == len(steps):
        steps.append(StepTiming(name=name, index=event.step_index))
    timing = steps[position]
    t = event.time_ns
    if event.step_state == STEP_STARTED:
        timing = _replace(
            timing,
            starts=timing.starts + 1,
            started_ns=t if timing.started_ns is None else min(timing.started_ns, t),
        )
    else:
        timing = _replace(
            timing,
            ends=timing.ends + 1,
            ended_ns=t if timing.ended_ns is None else max(timing.ended_ns, t),
            # Saturating: still order-independent, and a sum no column can hold stays storable.
            duration_ns=min(timing.duration_ns + round((event.step_duration_s or 0.0) * 1e9), INT64_MAX),
            failed=timing.failed or event.step_state == STEP_FAILED,
        )
    if timing.index is None and event.step_index is not None:
        timing = _replace(timing, index=event.step_index)
    steps[position] = timing
    steps.sort(key=_step_order)
    changes["steps"] = tuple(steps)


def _step_order(timing: StepTiming) -> tuple[int, int, str]:
    # Declared steps in their declared order, then the others by when they started.
    if timing.index is not None:
        return (0, timing.index, timing.name)
    return (1, timing.started_ns or 0, timing.name)


def _merge_resources(figures: Figures, event: JobEvent, changes: dict[str, Any]) -> None:
    if event.seq > figures.resources_seq:
        changes["resources"] = Resources(
            time_ns=event.time_ns,
            rss_bytes=event.rss_bytes,
            vms_bytes=event.vms_bytes,
            cpu_utilization=event.cpu_utilization,
            threads=event.threads,
            open_fds=event.open_fds,
        )
        changes["resources_seq"] = event.seq


def _merge_end(state: JobState, event: JobEvent, changes: dict[str, Any]) -> None:
    if state.end_seq and event.seq > state.end_seq:
        return
    error = None
    if event.error_type is not None or event.error_message is not None or event.status == FAILED:
        error = ErrorInfo(
            type=event.error_type,
            message=event.error_message,
            stacktrace=event.error_stacktrace,
            step=event.step,
        )
    changes.update(end_seq=event.seq, end_status=event.status, ended_ns=event.time_ns, error=error)


def log_line_of(event: JobEvent, limits: FoldLimits = DEFAULT_LIMITS) -> LogLine:
    """The LogLine a log event becomes (long messages cut at ``limits.log_message_chars``)."""
    message = event.message or ""
    if len(message) > limits.log_message_chars:
        message = message[: limits.log_message_chars] + "…"
    return LogLine(
        seq=event.seq,
        time_ns=event.time_ns,
        level=event.level or "info",
        message=message,
        logger=event.logger,
        attributes=event.attributes,
    )


def folded_line(state: JobState, event: JobEvent, limits: FoldLimits = DEFAULT_LIMITS) -> LogLine:
    """The LogLine log ``event`` became once folded into ``state``: the one the fold kept when it is
    the newest (lines almost always arrive in order), else built again the same way."""
    logs = state.logs
    if logs and logs[-1].seq == event.seq:
        return logs[-1]
    return log_line_of(event, limits)


def _merge_log(state: JobState, event: JobEvent, changes: dict[str, Any], limits: FoldLimits) -> None:
    line = log_line_of(event, limits)
    level = line.level
    logs = state.logs
    cap = limits.recent_logs
    if not logs or event.seq > logs[-1].seq:
        merged = (*logs, line)
    elif len(logs) >= cap and event.seq < logs[0].seq:
        merged = logs
    else:
        index = bisect_right([existing.seq for existing in logs], event.seq)
        merged = (*logs[:index], line, *logs[index:])
    if merged is not logs:
        changes["logs"] = merged[-cap:] if len(merged) > cap else merged
    counts = list(state.log_counts)
    counts[LEVEL_NUMBERS.get(level, 1)] += 1
    changes["log_counts"] = tuple(counts)


def _register(register: tuple[tuple[int, str], ...], seq: int, status: str) -> tuple[tuple[int, str], ...]:
    return tuple(sorted((*register, (seq, status)), reverse=True)[:2])


def _with_status(state: JobState, changes: dict[str, Any]) -> JobState:
    register = changes.get("status_register", state.status_register)
    end_status = changes.get("end_status", state.end_status)
    lost_seq = changes.get("lost_seq", state.lost_seq)
    max_seq = changes.get("max_seq", state.max_seq)
    # A queued job was pending before anything else: that is the status below the register's.
    before = PENDING if changes.get("queued_seq", state.queued_seq) else None
    last = register[0][1] if register else before or RUNNING
    if end_status:
        status, previous = end_status, last
    elif lost_seq and lost_seq >= max_seq:
        status, previous = LOST, last
    elif register:
        status, previous = last, register[1][1] if len(register) > 1 else before
    else:
        status, previous = before or RUNNING, None
    if status != state.status:
        changes["status"] = status
    if previous != state.previous_status:
        changes["previous_status"] = previous
    return _replace(state, **changes)
