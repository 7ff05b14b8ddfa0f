"""The fold: table tests of its rules and property tests of order- and duplicate-independence."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jobpulse.sidecar.model import figures
from jobpulse.sidecar.model.events import JobEvent
from jobpulse.sidecar.model.fold import DEFAULT_LIMITS, FoldLimits, fold
from jobpulse.sidecar.model.state import JobState

T0 = 1_800_000_000_000_000_000
MS = 1_000_000


def event(kind: str, seq: int, **fields) -> JobEvent:
    fields.setdefault("time_ns", T0 + seq * 25 * MS)
    return JobEvent(kind=kind, job_id="job", seq=seq, **fields)


def fold_all(events, limits: FoldLimits = DEFAULT_LIMITS) -> JobState:
    state = None
    for item in events:
        state = fold(state, item, limits)
    return state


def test_a_job_runs_and_completes():
    state = fold_all(
        [
            event("start", 1, name="import", job_type="csv", owner="ops", total=100, processed=0, host="h", pid=7),
            event("progress", 2, processed=40, total=100),
            event("progress", 3, processed=90, failed=2, total=100),
            event("end", 4, status="completed", processed=100, failed=2, total=100),
        ]
    )
    assert (state.status, state.previous_status) == ("completed", "running")
    assert (state.processed, state.failed, state.successful, state.total) == (100, 2, 98, 100)
    assert (state.name, state.job_type, state.owner, state.host, state.pid) == ("import", "csv", "ops", "h", 7)
    assert state.started_ns == T0 + 25 * MS and state.ended_ns == T0 + 100 * MS
    assert figures.progress_percent(state) == 100.0


def test_an_older_event_does_not_overwrite_newer_counts():
    state = fold_all([event("start", 1, name="n", processed=0), event("progress", 5, processed=50)])
    stale = fold(state, event("progress", 3, processed=30))
    assert stale.processed == 50
    assert stale.counts_seq == 5


def test_a_duplicate_changes_nothing_and_returns_the_same_object():
    state = fold_all([event("start", 1, name="n"), event("log", 2, level="error", message="x")])
    assert fold(state, event("log", 2, level="error", message="x")) is state
    assert state.log_counts[3] == 1


def test_end_is_final_and_the_first_end_wins():
    state = fold_all(
        [
            event("start", 1, name="n"),
            event("end", 5, status="failed", error_type="ValueError", error_message="bad row", step="parse"),
            event("resumed", 6),
            event("progress", 7, processed=10),
        ]
    )
    assert state.status == "failed"
    assert state.error.type == "ValueError" and state.error.step == "parse"
    assert state.processed == 0, "a late progress event changes neither status nor counts"


ENDED_RUN = [
    event("start", 1, name="n", total=100, processed=0),
    event("step", 2, step="load", step_index=0, step_count=1, step_state="started"),
    event("resources", 3, rss_bytes=1000, cpu_utilization=0.5),
    event("progress", 4, processed=60, failed=1, step="load", step_index=0),
    event("end", 5, status="completed", processed=100, failed=2),
]
LATE = [
    event("progress", 6, processed=3, failed=0, total=7, step="other", step_index=9),
    event("resources", 7, rss_bytes=1, cpu_utilization=0.0),
    event("resumed", 8, processed=4),
    event("step", 9, step="extra", step_index=5, step_count=9, step_state="started"),
]


def ended_figures(state: JobState) -> tuple:
    return (
        state.status,
        state.previous_status,
        state.processed,
        state.failed,
        state.total,
        state.step,
        state.step_index,
        state.step_count,
        state.steps,
        state.resources,
    )


@pytest.mark.parametrize("late_first", [False, True], ids=["late-after-end", "late-before-end"])
def test_an_ended_job_keeps_the_figures_it_ended_with(late_first):
    delivered = ENDED_RUN[:-1] + (LATE + ENDED_RUN[-1:] if late_first else ENDED_RUN[-1:] + LATE)
    state = fold_all(delivered)
    assert ended_figures(state) == ended_figures(fold_all(ENDED_RUN))
    assert (state.processed, state.failed, state.total, state.step) == (100, 2, 100, "load")
    assert state.resources.rss_bytes == 1000


def test_an_end_without_figures_keeps_the_newest_ones_from_before_it():
    run = [*ENDED_RUN[:-1], event("end", 5, status="cancelled")]
    in_order = fold_all(run)
    assert (in_order.processed, in_order.failed, in_order.total) == (60, 1, 100)
    for delivered in (LATE + run, run[::-1] + LATE[::-1], [run[0], *LATE, *run[1:]]):
        assert ended_figures(fold_all(delivered)) == ended_figures(in_order)


def test_a_late_log_line_is_still_added_to_an_ended_job():
    state = fold(fold_all(ENDED_RUN), event("log", 6, level="error", message="cleanup failed"))
    assert state.logs[-1].message == "cleanup failed" and state.log_counts[3] == 1
    assert ended_figures(state) == ended_figures(fold_all(ENDED_RUN))


def test_pause_and_resume_track_previous_status():
    paused = fold_all([event("start", 1, name="n"), event("paused", 2)])
    assert (paused.status, paused.previous_status) == ("paused", "running")
    resumed = fold(paused, event("resumed", 3))
    assert (resumed.status, resumed.previous_status) == ("running", "paused")


def test_lost_until_the_job_speaks_again():
    state = fold_all([event("start", 1, name="n"), event("progress", 2, processed=5)])
    lost = fold(state, JobEvent(kind="lost", job_id="job", seq=state.max_seq, time_ns=T0))
    assert (lost.status, lost.previous_status) == ("lost", "running")
    assert fold(lost, JobEvent(kind="lost", job_id="job", seq=lost.max_seq, time_ns=T0)) is lost
    back = fold(lost, event("progress", 3, processed=6))
    assert back.status == "running"


def test_an_ended_job_cannot_be_lost():
    state = fold_all([event("start", 1, name="n"), event("end", 2, status="completed")])
    assert fold(state, JobEvent(kind="lost", job_id="job", seq=2, time_ns=T0)) is state


def test_identity_comes_from_the_lowest_seq():
    state = fold_all([event("progress", 4, processed=1, name="late"), event("start", 1, name="early", job_type="t")])
    assert (state.name, state.job_type) == ("early", "t")


def test_step_timings_sum_repeated_runs_and_keep_declared_order():
    state = fold_all(
        [
            event("start", 1, name="n", step_names=("extract", "load")),
            event("step", 2, step="load", step_index=1, step_count=2, step_state="started"),
            event("step", 3, step="load", step_index=1, step_state="completed", step_duration_s=1.5),
            event("step", 4, step="extract", step_index=0, step_state="started"),
            event("step", 5, step="extract", step_index=0, step_state="failed", step_duration_s=0.5),
            event("step", 6, step="load", step_index=1, step_state="started"),
            event("step", 7, step="load", step_index=1, step_state="completed", step_duration_s=2.0),
        ]
    )
    assert [timing.name for timing in state.steps] == ["extract", "load"]
    extract, load = state.steps
    assert extract.state == "failed" and extract.duration_ns == 500_000_000
    assert load.state == "completed" and load.duration_ns == 3_500_000_000 and load.starts == 2
    assert (state.step, state.step_index, state.step_count) == ("load", 1, 2)


def test_recent_logs_keep_the_newest_by_seq_and_counts_stay_exact():
    limits = FoldLimits(recent_logs=3)
    lines = [event("log", seq, level="warning" if seq % 2 else "info", message=f"m{seq}") for seq in range(1, 9)]
    state = fold_all(lines[::-1] + lines, limits)
    assert [line.seq for line in state.logs] == [6, 7, 8]
    assert state.log_counts == (0, 4, 4, 0, 0)


def test_long_messages_are_truncated():
    state = fold(None, event("log", 1, message="x" * 100), FoldLimits(log_message_chars=10))
    assert state.logs[0].message == "x" * 10 + "…"


def test_rate_and_eta_come_from_the_sample_window():
    events = [event("start", 1, name="n", total=1000, processed=0)]
    events += [event("progress", seq, processed=(seq - 1) * 10, total=1000) for seq in range(2, 30)]
    state = fold_all(events)
    now = state.last_seen_ns or state.last_ns
    rate = figures.rate_per_s(state, now)
    assert rate == pytest.approx(400.0)  # 10 records every 25 ms
    assert figures.eta_s(state, rate) == pytest.approx((1000 - 280) / 400.0)


def test_a_stalled_job_rate_decays():
    events = [event("start", 1, name="n", processed=0, received_ns=T0)]
    events += [event("progress", seq, processed=seq * 10, received_ns=T0 + seq * 25 * MS) for seq in range(2, 14)]
    state = fold_all(events)
    fresh = figures.rate_per_s(state, state.last_seen_ns)
    later = figures.rate_per_s(state, state.last_seen_ns + 60_000 * MS)
    assert later < fresh / 10


def test_a_finished_job_rate_is_the_whole_run_average():
    state = fold_all([event("start", 1, name="n", processed=0), event("end", 41, status="completed", processed=2000)])
    assert figures.rate_per_s(state, 0) == pytest.approx(2000 / 1.0)


# ---- properties ---------------------------------------------------------------------------------


@st.composite
def job_run(draw, late: bool = False) -> list[JobEvent]:
    """A plausible run as one emitter would send it, seq 1..n; with ``late``, an ended run may be
    followed by records with higher seqs (a misbehaving sender, or a job id used twice)."""
    total = draw(st.one_of(st.none(), st.integers(1, 10_000)))
    steps = ("extract", "transform", "load")
    events = [event("start", 1, name="job", job_type="etl", total=total, processed=0, step_names=steps, host="h")]
    counts = {"processed": 0, "failed": 0, "step_index": None}

    def more(how_many: int) -> None:
        for _ in range(how_many):
            events.append(draw_event(draw, len(events) + 1, counts, total, steps))

    more(draw(st.integers(0, 30)))
    if draw(st.booleans()):
        status = draw(st.sampled_from(["completed", "failed", "cancelled"]))
        final = {"processed": counts["processed"], "failed": counts["failed"]} if draw(st.booleans()) else {}
        events.append(
            event("end", len(events) + 1, status=status, error_type="E" if status == "failed" else None, **final)
        )
        if late:
            more(draw(st.integers(0, 8)))
    return events


def draw_event(draw, seq: int, counts: dict, total: int | None, steps: tuple[str, ...]) -> JobEvent:
    kind = draw(st.sampled_from(["progress", "progress", "log", "step", "resources", "paused", "resumed"]))
    if kind == "progress":
        delta = draw(st.integers(0, 50))
        counts["processed"] += delta
        counts["failed"] += draw(st.integers(0, delta))
        return event("progress", seq, processed=counts["processed"], failed=counts["failed"], total=total)
    if kind == "log":
        level = draw(st.sampled_from(["debug", "info", "warning", "error", "critical"]))
        return event("log", seq, level=level, message=f"line {seq}")
    if kind == "step":
        if counts["step_index"] is None or draw(st.booleans()):
            index = counts["step_index"] = draw(st.integers(0, 2))
            return event("step", seq, step=steps[index], step_index=index, step_count=3, step_state="started")
        index = counts["step_index"]
        state_name = draw(st.sampled_from(["completed", "failed"]))
        return event(
            "step",
            seq,
            step=steps[index],
            step_index=index,
            step_state=state_name,
            step_duration_s=draw(st.floats(0, 10)),
        )
    if kind == "resources":
        return event("resources", seq, rss_bytes=draw(st.integers(1, 10**9)), cpu_utilization=draw(st.floats(0, 4)))
    return event(kind, seq, processed=counts["processed"], failed=counts["failed"])


@settings(max_examples=300, deadline=None)
@given(job_run(late=True), st.randoms(use_true_random=False), st.lists(st.integers(0, 1000), max_size=40))
def test_any_permutation_with_duplicates_gives_the_same_state(events, rng: random.Random, duplicate_picks):
    expected = fold_all(events, FoldLimits(recent_logs=5, rate_samples=4))
    delivered = list(events) + [events[pick % len(events)] for pick in duplicate_picks]
    rng.shuffle(delivered)
    assert fold_all(delivered, FoldLimits(recent_logs=5, rate_samples=4)) == expected


@settings(max_examples=150, deadline=None)
@given(job_run(late=True), st.randoms(use_true_random=False), st.data())
def test_any_subset_in_any_order_equals_that_subset_in_order(events, rng: random.Random, data):
    subset = data.draw(st.lists(st.sampled_from(events), unique_by=lambda item: item.seq, min_size=1))
    in_order = fold_all(sorted(subset, key=lambda item: item.seq))
    shuffled = list(subset)
    rng.shuffle(shuffled)
    assert fold_all(shuffled) == in_order


@settings(max_examples=300, deadline=None)
@given(
    job_run(late=True).filter(lambda run: any(item.kind == "end" for item in run)), st.randoms(use_true_random=False)
)
def test_any_permutation_containing_the_end_gives_the_figures_it_ended_with(events, rng: random.Random):
    end_seq = next(item.seq for item in events if item.kind == "end")
    at_end = fold_all([item for item in events if item.seq <= end_seq])
    shuffled = list(events)
    rng.shuffle(shuffled)
    assert ended_figures(fold_all(shuffled)) == ended_figures(at_end)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(1, 200), min_size=1, max_size=300))
def test_seen_ranges_detect_exactly_the_seqs_seen(seqs):
    state = None
    for seq in seqs:
        state = fold(state, event("log", seq, message="m"))
    seen = {seq for lo, hi in state.seen for seq in range(lo, hi + 1)}
    assert seen == set(seqs)
    assert sum(state.log_counts) == len(set(seqs))
