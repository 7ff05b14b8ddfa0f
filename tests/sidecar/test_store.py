"""JobStore's listeners: one that raises is logged and counted, and neither the others nor the sender notice."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import msgspec
import pytest
from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families

from jobpulse.sidecar.app import create_app
from jobpulse.sidecar.model.events import JobEvent
from jobpulse.sidecar.plugin import Core
from jobpulse.sidecar.settings import Settings
from jobpulse.sidecar.store import FAILURE_LOG_INTERVAL_S, JobChange, JobStore
from tests.support.job_events import T0, run
from tests.support.otlp_build import JobEmitter, logs_request


class Broken:
    """A listener with a bug: it raises on every change."""

    def on_change(self, change: JobChange) -> None:
        raise RuntimeError(f"broken listener saw {change.new.id}")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class StoreLog(logging.Handler):
    """What the store logs, caught at its own logger (the app replaces the root logger's handlers)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def store_log() -> Iterator[list[logging.LogRecord]]:
    handler = StoreLog()
    logger = logging.getLogger("jobpulse.sidecar.store")
    logger.addHandler(handler)
    yield handler.records
    logger.removeHandler(handler)


def test_a_raising_listener_is_counted_and_logged_and_the_next_one_still_hears_the_change(store_log):
    clock = Clock()
    store = JobStore(clock=clock)
    heard: list[str] = []
    store.add_listener(Broken().on_change)
    store.add_listener(lambda change: heard.append(change.event.kind), name="recorder")
    events = run(name="one", log_lines=3)

    assert store.apply(events[0]) is not None, "the change is applied and returned to whoever sent it"
    assert heard == ["start"]
    assert store.listener_failures == {"Broken.on_change": 1, "recorder": 0}
    [logged] = store_log
    assert logged.levelno == logging.ERROR and logged.exc_info is not None, "logged with its traceback"
    assert "Broken.on_change" in logged.getMessage() and events[0].job_id in logged.getMessage()

    store.apply_all(events[1:])
    assert len(heard) == len(events)
    assert store.listener_failures["Broken.on_change"] == len(events)
    assert len(store_log) == 1, "a listener failing on every event does not flood the log"

    clock.now += FAILURE_LOG_INTERVAL_S
    store.apply(run(name="two")[0])
    latest = store_log[-1]
    assert len(store_log) == 2
    assert f"({len(events) - 1} earlier failure(s) not logged)" in latest.getMessage()


async def test_an_otlp_request_is_answered_200_when_a_listener_raises(tmp_path, store_log):
    app = create_app(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'history.db'}"))
    store = app.plugins.get(Core).store
    heard: list[str] = []
    store.add_listener(Broken().on_change)
    store.add_listener(lambda change: heard.append(change.new.id), name="recorder")
    job = JobEmitter(uuid.uuid4().hex)
    async with AsyncTestClient(app) as client:
        response = await client.post(
            "/v1/logs",
            content=logs_request([job.start(name="survives"), job.progress(processed=3)]),
            headers={"content-type": "application/x-protobuf"},
        )
        assert response.status_code == 200, response.text
        assert heard == [job.job_id, job.job_id]
        detail = await client.get(f"/api/jobs/{job.job_id}")
        assert detail.status_code == 200 and detail.json()["processed"] == 3
        metrics = (await client.get("/metrics")).text
    failures = {
        sample.labels["listener"]: sample.value
        for family in text_string_to_metric_families(metrics)
        if family.name == "jobpulse_sidecar_listener_failures"
        for sample in family.samples
        if sample.name.endswith("_total")
    }
    assert failures["Broken.on_change"] == 2
    assert failures["recorder"] == 0 and failures["HistoryWriter.on_change"] == 0, failures
    assert len(store_log) == 1


@pytest.mark.parametrize("kind", ["control", "lost"])
def test_the_sidecars_own_events_about_a_job_never_make_one(kind: str) -> None:
    store = JobStore()
    heard: list[JobChange] = []
    store.add_listener(heard.append)
    unknown = JobEvent(kind=kind, job_id="never-heard-from", seq=1, time_ns=T0, action="pause", actor="ops")
    assert store.apply(unknown) is None
    assert (store.get("never-heard-from"), len(store), heard, store.events_unchanged) == (None, 0, [], 1)

    [start, *_] = run(status=None)
    store.apply(start)
    known = msgspec.structs.replace(unknown, job_id=start.job_id, seq=start.seq)
    changed = store.apply(known)
    assert changed is not None and changed.name == "orders-import"
    assert (changed.control_id == 1) if kind == "control" else (changed.status == "lost")
