"""The schedule book in a real app: schedules learned from start records outlive a restart, a run's
start and end make its last run, the settings' schedules change live and win over learned ones."""

from __future__ import annotations

import uuid
from pathlib import Path

from litestar.testing import AsyncTestClient

from jobpulse import conventions
from jobpulse.sidecar.app import create_app
from jobpulse.sidecar.settings import Settings
from tests.support.otlp_build import JobEmitter, logs_request

PROTOBUF = {"content-type": "application/x-protobuf"}


SCHEDULE_ATTRIBUTES = {
    "cron": conventions.ATTR_SCHEDULE_CRON,
    "every_s": conventions.ATTR_SCHEDULE_EVERY,
    "timezone": conventions.ATTR_SCHEDULE_TIMEZONE,
    "grace_s": conventions.ATTR_SCHEDULE_GRACE,
}


def learning_start(job: JobEmitter, name: str, **schedule: object):
    """A start record stating the job's schedule, as ``jobpulse run --schedule`` sends it."""
    return job.start(name=name, **{SCHEDULE_ATTRIBUTES[key]: value for key, value in schedule.items()})


async def views(client: AsyncTestClient) -> dict[str, dict]:
    response = await client.get("/api/monitor/schedules")
    assert response.status_code == 200, response.text
    return {view["name"]: view for view in response.json()["schedules"]}


async def test_a_learned_schedule_and_its_last_run_outlive_a_restart(tmp_path: Path):
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'history.db'}", history_flush_interval_s=0.05)
    job = JobEmitter(uuid.uuid4().hex)
    async with AsyncTestClient(create_app(settings)) as client:
        records = [learning_start(job, "nightly", cron="0 2 * * *", timezone="Europe/Berlin", grace_s=900.0)]
        response = await client.post("/v1/logs", content=logs_request([*records, job.end("failed")]), headers=PROTOBUF)
        assert response.status_code == 200, response.text
        before = (await views(client))["nightly"]
    assert before["source"] == "learned" and before["last_run"]["status"] == "failed"
    async with AsyncTestClient(create_app(settings)) as client:
        after = (await views(client))["nightly"]
    assert after == before | {"state": after["state"]}
    assert (after["cron"], after["timezone"], after["grace_s"]) == ("0 2 * * *", "Europe/Berlin", 900.0)


async def test_a_start_that_states_no_valid_schedule_teaches_nothing(tmp_path: Path):
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'history.db'}")
    async with AsyncTestClient(create_app(settings)) as client:
        bad, plain = JobEmitter(uuid.uuid4().hex), JobEmitter(uuid.uuid4().hex)
        records = [learning_start(bad, "broken", cron="61 * * * *"), plain.start(name="unscheduled")]
        response = await client.post("/v1/logs", content=logs_request(records), headers=PROTOBUF)
        assert response.status_code == 200, response.text
        assert (await client.get(f"/api/jobs/{bad.job_id}")).status_code == 200, "the job itself is taken"
        assert await views(client) == {}


async def test_settings_schedules_change_live_and_win_over_learned_ones(tmp_path: Path):
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'history.db'}")
    async with AsyncTestClient(create_app(settings)) as client:
        job = JobEmitter(uuid.uuid4().hex)
        records = [learning_start(job, "hourly", every_s=3600.0), job.end("completed")]
        assert (await client.post("/v1/logs", content=logs_request(records), headers=PROTOBUF)).status_code == 200
        assert (await views(client))["hourly"]["every_s"] == 3600.0

        configured = [{"name": "hourly", "every": "30m"}, {"name": "etl", "match": "job_type", "cron": "*/5 * * * *"}]
        response = await client.patch("/api/monitor/config", json={"schedules": configured})
        assert response.status_code == 200, response.text
        found = await views(client)
        assert {name: (view["source"], view["match"]) for name, view in found.items()} == {
            "hourly": ("config", "job_name"),
            "etl": ("config", "job_type"),
        }
        assert found["hourly"]["every_s"] == 1800.0
        assert found["hourly"]["last_run"]["job_id"] == job.job_id, "a configured schedule keeps the name's last run"

        response = await client.patch("/api/monitor/config", json={"schedules": []})
        assert response.status_code == 200, response.text
        assert {name: view["source"] for name, view in (await views(client)).items()} == {"hourly": "learned"}
