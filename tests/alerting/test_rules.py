"""The pure rule functions and the hints: job state in, condition out."""

from __future__ import annotations

import msgspec
import pytest

from jobpulse.sidecar.alerting import rules
from jobpulse.sidecar.alerting.config import (
    ErrorRateRule,
    ExpectedDurations,
    Hint,
    JobFailedRule,
    JobPredictedOverrunRule,
    JobStalledRule,
    ResourcePressureRule,
)
from jobpulse.sidecar.alerting.hints import FALLBACK, HintBook
from jobpulse.sidecar.model.events import JobEvent
from jobpulse.sidecar.model.fold import fold
from jobpulse.sidecar.model.state import JobState
from tests.support.job_events import T0, S, run


def folded(events: list[JobEvent]) -> JobState:
    state = None
    for event in events:
        state = fold(state, event)
    assert state is not None
    return state


def running(
    processed: int = 0,
    total: int | None = None,
    expected_s: float | None = None,
    progress: tuple[tuple[float, int], ...] = (),
) -> JobState:
    """A running job started at T0, with progress samples at (seconds after start, processed)."""
    events = [
        JobEvent(
            kind="start",
            job_id="j1",
            seq=1,
            time_ns=T0,
            received_ns=T0,
            name="orders-import",
            job_type="csv_import",
            total=total,
            processed=processed,
            expected_duration_s=expected_s,
            host="worker-1",
            pid=7,
        )
    ]
    for seq, (at_s, count) in enumerate(progress, start=2):
        at = T0 + int(at_s * S)
        events.append(JobEvent(kind="progress", job_id="j1", seq=seq, time_ns=at, received_ns=at, processed=count))
    return folded(events)


def test_a_failed_job_carries_error_step_logs_and_actions():
    state = folded(
        run(
            job_id="f1",
            name="orders-import",
            status="failed",
            error_type="TimeoutError",
            error_message="read timed out",
            steps=(("extract", 1.0), ("load", 2.0)),
            log_lines=12,
            log_level="warning",
            processed=40,
            failed=2,
            total=100,
        )
    )
    condition = rules.job_failed(state, JobFailedRule(log_lines=3), HintBook([]))
    assert condition is not None
    assert (condition.key, condition.occurrence, condition.job_id) == ("job_failed:f1", "end", "f1")
    assert condition.summary == "Job orders-import failed in step 'load': TimeoutError: read timed out"
    details = condition.details
    assert (details["error_type"], details["step"], details["processed"], details["failed"]) == (
        "TimeoutError",
        "load",
        40,
        2,
    )
    assert [line.split(" ", 1)[1] for line in details["log_lines"]] == [
        "WARNING line 9 of orders-import",
        "WARNING line 10 of orders-import",
        "WARNING line 11 of orders-import",
    ]
    assert details["suggested_actions"][0] == "Transient: retry the job."
    assert "Processed 40 of 100 records, 2 failed." in condition.description
    assert "Job id f1, type csv_import, host worker-1 (pid 4242), owner ops." in condition.description
    assert rules.job_failed(folded(run(job_id="ok")), JobFailedRule(), HintBook([])) is None


def test_hints_configured_first_then_builtin_then_the_fallback():
    book = HintBook([Hint(type=r"^warehouse\.", actions=["Page the warehouse team."])])
    assert book.suggest("warehouse.LockTimeout", "lock wait timed out") == [
        "Page the warehouse team.",
        "Transient: retry the job.",
        "If it keeps timing out, check the remote service's latency or raise the job's timeout.",
    ]
    assert book.suggest("ConnectionRefusedError", "connection refused")[0].startswith("Check that the remote service")
    assert book.suggest("pydantic.ValidationError", "1 validation error")[0].startswith("Check the input data")
    assert book.suggest("sqlite3.IntegrityError", "UNIQUE constraint failed")[0].startswith("A database constraint")
    assert HintBook([], builtin=False).suggest("TimeoutError", None) == [FALLBACK]
    assert HintBook([]).suggest(None, None) == [FALLBACK]


def test_the_expected_duration_comes_from_the_job_then_name_then_type_then_history():
    durations = ExpectedDurations(by_name={"orders-import": 60}, by_type={"csv_import": 30}, history_factor=2)
    learned = {"orders-import": 10.0}
    assert rules.expected_duration(running(expected_s=5), durations, learned) == rules.Expected(5, "job")
    assert rules.expected_duration(running(), durations, learned) == rules.Expected(60, "by_name")
    by_type = msgspec.structs.replace(durations, by_name={})
    assert rules.expected_duration(running(), by_type, learned) == rules.Expected(30, "by_type")
    nothing = ExpectedDurations(history_factor=2)
    assert rules.expected_duration(running(), nothing, learned) == rules.Expected(20, "history")
    assert rules.expected_duration(running(), ExpectedDurations(learn_from_history=False), learned) is None


def test_overdue_once_past_the_expected_duration():
    state = running(expected_s=60)
    expected = rules.Expected(60, "job")
    assert rules.job_overdue(state, T0 + 59 * S, expected) is None
    condition = rules.job_overdue(state, T0 + 90 * S, expected)
    assert condition is not None and condition.occurrence == "run"
    assert condition.summary == "Job orders-import is overdue: running for 1m 30s, expected 1m 0s"
    assert condition.details["elapsed_s"] == 90 and condition.details["expected_source"] == "job"
    assert rules.job_overdue(state, T0 + 90 * S, None) is None
    assert rules.job_overdue(folded(run(duration_s=120)), T0 + 200 * S, expected) is None, "it ended"


def test_predicted_overrun_before_the_deadline_only():
    # 10 records/s over 100 s: 1000 of 3000 done, 200 s to go: projected 300 s against 240 s.
    state = running(total=3000, progress=((90, 900), (100, 1000)))
    expected = rules.Expected(240, "by_type")
    rule = JobPredictedOverrunRule(min_elapsed_s=30, tolerance=0.1)
    condition = rules.job_predicted_overrun(state, T0 + 100 * S, expected, rule)
    assert condition is not None and condition.occurrence == "run"
    assert condition.details["projected_s"] == pytest.approx(300) and condition.details["eta_s"] == pytest.approx(200)
    assert rules.job_predicted_overrun(state, T0 + 100 * S, rules.Expected(280, "job"), rule) is None, (
        "within tolerance"
    )
    assert rules.job_predicted_overrun(state, T0 + 100 * S, rules.Expected(99, "job"), rule) is None, "already overdue"
    early = JobPredictedOverrunRule(min_elapsed_s=200)
    assert rules.job_predicted_overrun(state, T0 + 100 * S, expected, early) is None
    assert rules.job_predicted_overrun(running(progress=((1, 1), (2, 2))), T0 + 2 * S, expected, rule) is None, (
        "no total"
    )


def test_stalled_after_the_threshold_with_an_occurrence_per_stall():
    state = running(processed=0, progress=((1, 5),))
    rule = JobStalledRule(after_s=300)
    since = T0 + 1 * S
    assert rules.job_stalled(state, since, since + 299 * S, rule) is None
    condition = rules.job_stalled(state, since, since + 301 * S, rule)
    assert condition is not None and condition.occurrence == "5@1"
    assert condition.summary == "Job orders-import is stalled: no progress for 5m 1s at 5 records"
    paused = fold(state, JobEvent(kind="paused", job_id="j1", seq=9, time_ns=T0 + 2 * S))
    assert rules.job_stalled(paused, since, since + 400 * S, rule) is None


def test_lost_when_the_sidecar_marked_it():
    state = running(processed=3)
    assert rules.job_lost(state, T0 + 10 * S) is None
    lost = fold(state, JobEvent(kind="lost", job_id="j1", seq=state.max_seq, time_ns=T0 + 90 * S))
    condition = rules.job_lost(lost, T0 + 90 * S)
    assert condition is not None and condition.occurrence == f"lost{state.max_seq}"
    assert condition.summary == "Job orders-import is lost: nothing heard from it for 1m 30s"


def test_error_rate_above_its_ratio_after_the_minimum_count():
    rule = ErrorRateRule(max_ratio=0.1, min_processed=50)
    assert rules.error_rate(folded(run(status=None, processed=40, failed=20)), rule) is None, "too few yet"
    assert rules.error_rate(folded(run(status=None, processed=100, failed=10)), rule) is None, "at the ratio"
    condition = rules.error_rate(folded(run(status=None, job_id="e1", processed=100, failed=11)), rule)
    assert condition is not None and (condition.key, condition.occurrence) == ("error_rate:e1", "at100")
    assert condition.summary == "Job orders-import: 11.0% of records failed (11 of 100; threshold 10.0%)"


def test_resource_pressure_in_a_job_and_on_the_host():
    sample = JobEvent(kind="resources", job_id="j1", seq=5, time_ns=T0 + S, rss_bytes=600 * rules.MB)
    state = fold(running(), sample)
    condition = rules.job_memory(state, ResourcePressureRule(job_rss_mb=512))
    assert condition is not None and condition.key == "resource_pressure:job:j1" and condition.occurrence == "rss5"
    assert rules.job_memory(state, ResourcePressureRule(job_rss_mb=0)) is None, "0 turns it off"
    rule = ResourcePressureRule(memory_percent=80, disk_percent=0, cpu_percent=90)
    host = rules.HostSample("db-1", memory_percent=85.0, disk_percent=99.0, cpu_percent=50.0)
    found = rules.host_pressure(host, 2, rule, "17")
    assert set(found) == {"resource_pressure:host:db-1:memory", "resource_pressure:host:db-1:cpu"}
    memory = found["resource_pressure:host:db-1:memory"]
    assert memory is not None and memory.summary == "Host db-1: memory at 85% (threshold 80%) while 2 job(s) run"
    assert found["resource_pressure:host:db-1:cpu"] is None
    assert all(value is None for value in rules.host_pressure(host, 0, rule, "17").values()), "no job runs"


@pytest.mark.parametrize(("seconds", "text"), [(4.25, "4.2 s"), (61, "1m 1s"), (7322, "2h 2m")])
def test_human_durations(seconds, text):
    assert rules.human_duration(seconds) == text
