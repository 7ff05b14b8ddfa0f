"""Rows history storage refuses, over HTTP: set aside and readable, while every other job is written.

The wire accepts values some storage cannot hold. PostgreSQL text cannot contain NUL, which is valid
in OTLP strings (and valid in SQLite): a real sidecar on a real PostgreSQL server shows the path from
an export request to the dead-letter endpoint. Values out of 64-bit range are refused at ingest; the
writer's own guard against them is shown with a job state put into the store directly.
"""

from __future__ import annotations

import uuid

import pytest
from litestar.testing import AsyncTestClient

from jobpulse.sidecar.app import create_app
from jobpulse.sidecar.plugin import Core
from jobpulse.sidecar.settings import Settings
from tests.support.job_events import run
from tests.support.otlp_build import JobEmitter, post_logs
from tests.support.polling import wait_for
from tests.support.sidecar import SidecarProcess

TOO_BIG = 2**63


@pytest.fixture
def postgres_sidecar(tmp_path, postgres_server):
    with SidecarProcess(
        tmp_path, database_url=postgres_server.new_database(), history_flush_interval_s=0.05
    ) as sidecar:
        yield sidecar


@pytest.fixture
async def app_client(tmp_path):
    """The sidecar app in this process on SQLite, writing history only when asked (a listing asks)."""
    app = create_app(
        Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'history.db'}", history_flush_interval_s=3600)
    )
    async with AsyncTestClient(app) as client:
        yield app, client


def test_a_record_postgresql_cannot_store_is_set_aside_and_the_others_reach_history(postgres_sidecar):
    sidecar = postgres_sidecar
    good, bad = JobEmitter(uuid.uuid4().hex), JobEmitter(uuid.uuid4().hex)
    good_name = f"good-{good.job_id[:8]}"
    post_logs(
        sidecar.url,
        [
            bad.start(name="nul\x00in the name"),
            good.start(name=good_name, total=2),
            bad.log("binary\x00garbage"),
            good.log("first"),
            good.log("second"),
            bad.end(processed=1),
            good.end(processed=2),
        ],
    )

    letters = wait_for(lambda: (page := sidecar.get("/api/monitor/dead-letters").json())["total"] >= 2 and page)
    assert sorted((item["kind"], item["job_id"]) for item in letters["items"]) == [
        ("job", bad.job_id),
        ("log", bad.job_id),
    ]
    by_kind = {item["kind"]: item for item in letters["items"]}
    assert by_kind["log"]["payload"]["message"] == "binary\x00garbage", "the refused line is kept as it came"
    assert by_kind["job"]["payload"]["name"] == "nul\x00in the name"
    assert all("0x00" in item["error"] for item in letters["items"]), letters

    ready = sidecar.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert (
        "2 row(s)" in ready.json()["details"]["history"]
        and "/api/monitor/dead-letters" in ready.json()["details"]["history"]
    )

    listed = sidecar.get("/api/jobs", name=good_name)
    assert listed.status_code == 200 and listed.json()["total"] == 1, listed.text
    assert listed.json()["items"][0]["status"] == "completed"
    logs = sidecar.get(f"/api/jobs/{good.job_id}/logs").json()
    assert [item["message"] for item in logs["items"]] == ["first", "second"]
    assert sidecar.get("/api/jobs").status_code == 200
    assert sidecar.get(f"/api/jobs/{bad.job_id}").json()["name"] == "nul\x00in the name", "still served from memory"

    metrics = sidecar.get("/metrics").text
    assert 'jobpulse_sidecar_storage_dead_letters_total{kind="job"} 1.0' in metrics
    assert 'jobpulse_sidecar_storage_dead_letters_total{kind="log"} 1.0' in metrics
    assert f"refused the log line 2 of job '{bad.job_id}'" in sidecar.log()


async def test_a_job_whose_figures_storage_cannot_hold_stays_readable_and_blocks_nothing(app_client):
    app, client = app_client
    overflowing, fine = run(name="overflowing", processed=TOO_BIG), run(name="fine")
    app.plugins.get(Core).store.apply_all(overflowing + fine)

    listed = await client.get("/api/jobs")  # writes pending job changes first
    assert listed.status_code == 200, listed.text
    assert [item["name"] for item in listed.json()["items"]] == ["fine"]
    detail = await client.get(f"/api/jobs/{overflowing[0].job_id}")
    assert detail.status_code == 200, detail.text
    assert detail.json()["processed"] == TOO_BIG

    page = (await client.get("/api/monitor/dead-letters")).json()
    assert [(item["kind"], item["job_id"]) for item in page["items"]] == [("job", overflowing[0].job_id)]
    assert page["items"][0]["payload"]["processed"] == str(TOO_BIG)
    assert "OverflowError" in page["items"][0]["error"]
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and "1 row(s)" in ready.json()["details"]["history"]


async def test_dead_letters_page_newest_first(app_client):
    app, client = app_client
    runs = [run(name=f"too-big-{n}", processed=TOO_BIG) for n in range(3)]
    for events in runs:
        app.plugins.get(Core).store.apply_all(events)
        assert (await client.get("/api/jobs")).status_code == 200
    first = (await client.get("/api/monitor/dead-letters", params={"limit": 2})).json()
    assert first["total"] == 3 and first["next_cursor"]
    rest = (await client.get("/api/monitor/dead-letters", params={"limit": 2, "cursor": first["next_cursor"]})).json()
    assert [item["payload"]["name"] for item in first["items"] + rest["items"]] == [
        "too-big-2",
        "too-big-1",
        "too-big-0",
    ]
    assert rest["next_cursor"] is None
    one = (await client.get("/api/monitor/dead-letters", params={"job_id": runs[1][0].job_id})).json()
    assert [item["payload"]["name"] for item in one["items"]] == ["too-big-1"] and one["total"] == 1
    bad = await client.get("/api/monitor/dead-letters", params={"cursor": "yesterday"})
    assert bad.status_code == 400 and "cursor" in bad.json()["detail"]
