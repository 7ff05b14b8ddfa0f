"""The alerting engine in process: real database, real Apprise delivery to a loopback receiver, a
hand-driven clock. Dedupe, grouping, silences, repeats, restarts and the once-only claim."""

from __future__ import annotations

import msgspec
from prometheus_client import CollectorRegistry
from sqlalchemy import select

from jobpulse.sidecar.alerting.config import ErrorRateRule
from jobpulse.sidecar.alerting.metrics import AlertingCollector
from jobpulse.sidecar.alerting.model import Silence
from jobpulse.sidecar.alerting.repository import AlertFilter, NotificationFilter
from jobpulse.sidecar.alerting.tables import alert_notifications
from jobpulse.sidecar.history.writer import HistoryWriter
from jobpulse.sidecar.model.events import JobEvent
from tests.support.job_events import T0, S, run


def settings(receiver, **extra):
    # The fleet's failure rate would join the bursts of failures here; tests/alerting/test_fleet.py has it.
    rules = {"fleet_failure_rate": {"enabled": False}, **extra.pop("rules", {})}
    return {
        "group_window_s": 1.0,
        "repeat_interval_s": 0,
        "channels": [{"name": "hook", "url": receiver.url("json", "/hook"), "tags": ["ops"]}],
        "delivery": {"base_delay_s": 0.01, "max_delay_s": 0.05},
        "rules": rules,
        **extra,
    }


def failing(count: int, job_type: str = "csv_import", name: str = "orders-import", **extra):
    return [
        run(
            name=f"{name}-{index}" if count > 1 else name,
            job_type=job_type,
            status="failed",
            error_type="TimeoutError",
            error_message="upstream timed out",
            processed=40,
            **extra,
        )
        for index in range(count)
    ]


async def test_a_burst_of_failures_of_one_type_is_one_grouped_notification(make_stack, receiver):
    stack = await make_stack(settings(receiver))
    runs = failing(50)
    stack.apply(*runs)
    stack.apply(*runs)  # redelivered: changes nothing, notifies nothing more
    await stack.tick(0.5)
    assert receiver.at("/hook") == [], "the group waits for its window"
    await stack.tick(0.6)
    [message] = receiver.at("/hook")
    assert message.title == "[HIGH] job_failed: 50 alerts of type csv_import firing"
    assert message.type == "failure"
    assert message.body.count("- Job orders-import-") == 30 and "... and 20 more" in message.body
    assert "Transient: retry the job." in message.body
    rows = await stack.repository.list_notifications(NotificationFilter(channel="hook"), 100)
    assert len(rows) == 50 and {row["result"] for row in rows} == {"sent"}
    assert len({row["delivery_id"] for row in rows}) == 1, "one delivery carried the whole group"
    alerts, total = await stack.repository.list_alerts(AlertFilter(rule="job_failed"), 100)
    assert total == 50 and all(alert.last_notified_ns for alert in alerts)


async def test_one_condition_notifies_once_repeats_and_resolves_when_the_job_recovers(make_stack, receiver):
    stack = await make_stack(settings(receiver, rules={"job_failed": {"repeat_interval_s": 60}}))
    [events] = failing(1)
    stack.apply(events)
    await stack.tick(1.1)
    [fired] = receiver.wait("/hook")
    assert fired.title.startswith("[HIGH] Job orders-import failed: TimeoutError: upstream timed out")
    assert events[0].job_id in fired.body
    await stack.tick(30)
    assert len(receiver.at("/hook")) == 1
    await stack.tick(31)
    await stack.tick(1.1)
    repeat = receiver.at("/hook")[-1]
    assert repeat.title.startswith("[HIGH] Still firing: Job orders-import failed") and len(receiver.at("/hook")) == 2
    stack.apply(run(name="orders-import", start_ns=T0 + 200 * S))
    await stack.tick(1.1)
    resolved = receiver.at("/hook")[-1]
    assert resolved.title == "[RESOLVED] Job orders-import failed: TimeoutError: upstream timed out"
    assert resolved.type == "success" and "a later run of orders-import completed" in resolved.body
    assert not stack.engine.active


async def test_silences_mute_until_lifted_then_the_notification_is_owed(make_stack, receiver):
    stack = await make_stack(settings(receiver))
    silence = await stack.engine.add_silence(
        Silence(id=0, until_ns=stack.clock.now_ns + 3600 * S, created_ns=stack.clock.now_ns, job_name="orders-import")
    )
    stack.apply(*failing(1), *failing(1, name="crm-sync", job_type="api"))
    await stack.tick(1.1)
    [message] = receiver.wait("/hook")
    assert "crm-sync" in message.title
    muted = stack.engine.active[
        "job_failed:" + next(a.job_id for a in stack.engine.active.values() if a.job_name == "orders-import")
    ]
    assert muted.silenced and not muted.notified
    assert await stack.engine.delete_silence(silence.id)
    await stack.tick(1.1)
    await stack.tick(1.1)
    assert "orders-import" in receiver.at("/hook")[-1].title and len(receiver.at("/hook")) == 2


async def test_two_replicas_sharing_a_database_notify_once(make_stack, receiver, database_url):
    first = await make_stack(settings(receiver), database_url=database_url)
    second = await make_stack(settings(receiver), database_url=database_url, clock=first.clock)
    runs = failing(5, job_type="db_load")
    first.apply(*runs)
    second.apply(*runs)
    await first.tick(1.1)
    await second.tick(0)
    assert len(receiver.at("/hook")) == 1, "the second replica found every notification claimed"
    assert second.delivery.channels[0].claimed_elsewhere == 5
    async with first.database.connect() as connection:
        rows = (await connection.execute(select(alert_notifications.c.result))).all()
    assert [row.result for row in rows] == ["sent"] * 5


async def test_every_attempt_of_a_grouped_notification_is_recorded_for_each_alert(make_stack, receiver, database_url):
    stack = await make_stack(settings(receiver), database_url=database_url)
    receiver.fail("/hook", 1)
    stack.apply(*failing(3, job_type="api_upload"))
    await stack.tick(1.1)
    assert [message.status for message in receiver.at("/hook")] == [500, 200]
    notifications = await stack.repository.list_notifications(NotificationFilter(), 10)
    assert len(notifications) == 3 and len({row["delivery_id"] for row in notifications}) == 1, "one message"
    for row in notifications:
        assert (row["attempts"], row["result"], row["error"]) == (2, "sent", None), "the summary"
        first, second = row["attempt_history"]
        assert [(first["attempt"], first["outcome"]), (second["attempt"], second["outcome"])] == [
            (1, "failed"),
            (2, "ok"),
        ]
        assert "error=500" in first["error"] and second["error"] is None
        assert first["started_ns"] <= first["finished_ns"] <= second["started_ns"] <= second["finished_ns"]
        assert row["last_attempt_ns"] == row["sent_ns"] == second["finished_ns"]
        assert 0 <= first["duration_s"] < 5 and 0 <= second["duration_s"] < 5


async def test_a_restarted_engine_keeps_firing_alerts_without_notifying_them_again(make_stack, receiver, tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'restart.db'}"
    before = await make_stack(settings(receiver), database_url=url)
    [events] = failing(1)
    before.apply(events)
    await before.tick(1.1)
    receiver.wait("/hook")
    await before.stop()
    after = await make_stack(settings(receiver), database_url=url, clock=before.clock)
    assert list(after.engine.active) == [f"job_failed:{events[0].job_id}"]
    after.apply(events)  # the job's events replayed after the restart
    after.apply(run(name="orders-import", start_ns=T0 + 300 * S))
    await after.tick(1.1)
    titles = [message.title for message in receiver.at("/hook")]
    assert titles == [
        "[HIGH] Job orders-import failed: TimeoutError: upstream timed out",
        "[RESOLVED] Job orders-import failed: TimeoutError: upstream timed out",
    ]


async def test_a_full_channel_queue_drops_with_a_record_and_a_metric(make_stack, receiver):
    stack = await make_stack(settings(receiver, delivery={"queue_size": 1, "workers_per_channel": 1}))
    stack.apply(*(failing(1, name=f"job-{kind}", job_type=kind)[0] for kind in ("a", "b", "c")))
    await stack.tick(1.1)
    assert len(receiver.at("/hook")) == 1
    dropped = await stack.repository.list_notifications(NotificationFilter(result="dropped"), 10)
    assert len(dropped) == 2 and dropped[0]["claim"] is None and "queue full" in dropped[0]["error"]
    assert dropped[0]["attempt_history"] == [], "a dropped notification was never tried"
    registry = CollectorRegistry()
    registry.register(AlertingCollector(stack.engine))
    assert registry.get_sample_value("jobpulse_alert_notifications_dropped_total", {"channel": "hook"}) == 2
    assert registry.get_sample_value("jobpulse_alert_notifications_sent_total", {"channel": "hook"}) == 1
    assert registry.get_sample_value("jobpulse_alerts_firing", {"rule": "job_failed", "severity": "high"}) == 3
    assert registry.get_sample_value("jobpulse_alerts_fired_total") == 3


async def test_the_expected_duration_is_learned_from_history(make_stack, receiver, database_url):
    stack = await make_stack(
        settings(
            receiver, expected_durations={"history_min_runs": 5, "history_factor": 2.0, "history_refresh_s": 0.001}
        ),
        database_url=database_url,
    )
    writer = HistoryWriter(stack.database, stack.store)
    stack.apply(
        *(run(name="nightly-export", duration_s=seconds, start_ns=T0 - 3600 * S) for seconds in (10, 20, 30, 40, 50))
    )
    await writer.flush()
    stack.clock.now_ns += S
    await stack.engine.refresh()
    assert stack.engine.learned == {"nightly-export": 50.0}
    tonight = run(
        name="nightly-export", status=None, duration_s=0.2, start_ns=stack.clock.now_ns, received_ns=stack.clock.now_ns
    )
    stack.apply(tonight)
    await stack.tick(99)
    assert not stack.engine.active, "p95 50 s x 2: not overdue at 99 s"
    await stack.tick(2)
    [alert] = stack.engine.active.values()
    assert (alert.rule, alert.details["expected_s"], alert.details["expected_source"]) == (
        "job_overdue",
        100.0,
        "history",
    )


async def test_the_error_rate_is_judged_when_a_change_can_tip_it_and_at_once_on_new_thresholds(make_stack, receiver):
    stack = await make_stack(settings(receiver, rules={"error_rate": {"max_ratio": 0.1, "min_processed": 100}}))
    job = "error-rate-job"
    seq = iter(range(1, 100))

    def progress(processed: int, failed: int) -> None:
        stack.store.apply(
            JobEvent(kind="progress", job_id=job, seq=next(seq), time_ns=T0, processed=processed, failed=failed)
        )

    def firing() -> bool:
        return any(alert.rule == "error_rate" and alert.job_id == job for alert in stack.engine.active.values())

    stack.store.apply(JobEvent(kind="start", job_id=job, seq=next(seq), time_ns=T0, name="orders-import"))
    progress(50, 20)
    assert not firing(), "under the minimum count nothing is judged a rate"
    progress(120, 20)
    assert firing(), "reaching the minimum count with the failed count unchanged tips it"
    progress(150, 20)
    assert firing()
    progress(250, 20)
    assert not firing(), "a growing processed count resolves an alert of the job"
    progress(300, 24)
    assert not firing(), "0.08 is under 0.1"
    rules = msgspec.structs.replace(stack.settings.rules, error_rate=ErrorRateRule(max_ratio=0.05, min_processed=100))
    stack.engine.reconfigure(msgspec.structs.replace(stack.settings, rules=rules))
    assert firing(), "a lower threshold is judged at once, not at the job's next failure"
