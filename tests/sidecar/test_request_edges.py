"""Requests at the edges of what the REST API takes, against a real sidecar: each one a precise 4xx
(or the right answer), never a 500; and job-supplied text escaped wherever the sidecar shows it."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import threading
import time
import uuid
from urllib.parse import quote

import httpx
import pytest

from tests.support import loopback
from tests.support.otlp_build import JobEmitter, post_logs
from tests.support.polling import wait_for
from tests.support.sidecar import SidecarProcess

DEEP = 100_000


def new_job(shared_sidecar, name: str = "edge-job", **start) -> JobEmitter:
    job = JobEmitter(f"edge-{uuid.uuid4().hex}")
    post_logs(shared_sidecar.url, [job.start(name=name, **start)])
    return job


# ---- unknown jobs and their commands ------------------------------------------------------------


def test_the_commands_of_an_unknown_job_are_404_like_every_per_job_route(shared_sidecar):
    job_id = f"never-seen-{uuid.uuid4().hex}"
    for path in ("", "/status", "/logs", "/commands"):
        response = shared_sidecar.get(f"/api/jobs/{job_id}{path}")
        assert response.status_code == 404 and job_id in response.json()["detail"], path
    started = time.monotonic()
    assert shared_sidecar.get(f"/api/jobs/{job_id}/commands", wait=0.5).status_code == 404
    assert time.monotonic() - started >= 0.5, "a long poll waits its time out before it decides the job is unknown"
    # A process's poll names all its jobs, some of whose starts may still be on their way: never 404.
    poll = shared_sidecar.post("/api/control/poll", json={"job_ids": [job_id], "after": 0, "wait": 0})
    assert poll.status_code == 200 and poll.json()["commands"] == []


def test_a_job_whose_start_was_accepted_never_gets_404_from_its_commands(shared_sidecar):
    for _ in range(20):
        job = new_job(shared_sidecar)
        response = shared_sidecar.get(f"/api/jobs/{job.job_id}/commands")
        assert response.status_code == 200 and response.json() == {
            "commands": [],
            "cursor": 0,
            "progress_interval_s": None,
        }


def test_a_long_poll_for_a_job_not_seen_yet_waits_for_it_and_gets_its_commands(shared_sidecar):
    job = JobEmitter(f"late-{uuid.uuid4().hex}")
    answers: list[httpx.Response] = []
    poller = threading.Thread(
        target=lambda: answers.append(shared_sidecar.get(f"/api/jobs/{job.job_id}/commands", wait=20))
    )
    started = time.monotonic()
    poller.start()
    post_logs(shared_sidecar.url, [job.start(name="late-start")])
    assert shared_sidecar.post(f"/api/jobs/{job.job_id}/pause").status_code == 202
    poller.join(timeout=25)
    assert answers and answers[0].status_code == 200
    assert [command["action"] for command in answers[0].json()["commands"]] == ["pause"]
    assert time.monotonic() - started < 15, "the poll answered when the command came, not at the end of its wait"


# ---- searches -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parameter", "value"), [("name", "\x00"), ("q", "\x00"), ("name_prefix", "ab\x1b[31m"), ("q", "tab\there")]
)
def test_a_control_character_in_a_search_is_a_400_naming_the_parameter(shared_sidecar, parameter, value):
    new_job(shared_sidecar, name="named-for-search")
    response = shared_sidecar.get("/api/jobs", **{parameter: value})
    assert response.status_code == 400
    body = response.json()
    assert body["detail"].startswith(f"{parameter}: control character") and body["extra"][0]["key"] == parameter


def test_a_control_character_in_a_log_search_is_a_400(shared_sidecar):
    job = new_job(shared_sidecar)
    response = shared_sidecar.get(f"/api/jobs/{job.job_id}/logs", q="\x00")
    assert response.status_code == 400 and response.json()["detail"].startswith("q: control character")


# ---- NUL, which PostgreSQL text cannot hold -----------------------------------------------------

NUL_ID = quote("a\x00b", safe="")
# (method, path, query, JSON body, the key the refusal names, its status): each once reached
# PostgreSQL and answered 500.
NUL_REQUESTS = [
    ("GET", "/api/jobs", {"owner": "\x00"}, None, "owner", 400),
    ("GET", "/api/jobs", {"job_type": "x\x00"}, None, "job_type", 400),
    ("GET", "/api/analytics/steps", {"name": "\x00"}, None, "name", 400),
    ("GET", "/api/alerts", {"job_id": "\x00"}, None, "job_id", 400),
    ("GET", "/api/alerts", {"rule": "\x00"}, None, "rule", 400),
    ("GET", "/api/monitor/dead-letters", {"job_id": "\x00"}, None, "job_id", 400),
    *[("GET", f"/api/jobs/{NUL_ID}{tail}", {}, None, "job_id", 400) for tail in ("", "/status", "/logs", "/commands")],
    ("POST", f"/api/jobs/{NUL_ID}/pause", {}, {}, "job_id", 400),
    ("POST", "/api/alerts/silences", {}, {"rule": "job_failed\x00", "duration_s": 60}, "rule", 422),
    ("POST", "/api/alerts/silences", {}, {"rule": "job_failed", "job_name": "\x00", "duration_s": 60}, "job_name", 422),
    ("POST", "/api/control/poll", {}, {"job_ids": ["ok", "a\x00"], "after": 0, "wait": 0}, "job_ids[1]", 422),
]


@pytest.fixture(scope="module")
def postgres_sidecar(tmp_path_factory, postgres_server):
    with SidecarProcess(tmp_path_factory.mktemp("nul"), database_url=postgres_server.new_database()) as sidecar:
        yield sidecar


@pytest.mark.parametrize(("method", "path", "query", "body", "key", "status"), NUL_REQUESTS)
def test_a_nul_in_a_parameter_or_a_body_is_refused_naming_it_before_it_reaches_storage(
    postgres_sidecar, method, path, query, body, key, status
):
    response = loopback.request(method, postgres_sidecar.url + path, params=query, json=body, timeout=10)
    assert response.status_code == status, response.text
    answer = response.json()
    assert "control character '\\x00' (NUL) is not allowed" in answer["detail"] and answer["extra"][0]["key"] == key
    assert "Traceback" not in postgres_sidecar.log()


def test_text_without_nul_is_untouched(shared_sidecar):
    job = new_job(shared_sidecar, name="no-nul \\u0000 here")
    assert job.job_id in [item["id"] for item in shared_sidecar.get("/api/jobs", name="\\u0000").json()["items"]]
    silence = {"rule": "job_failed", "job_name": "no-nul \\u0000 here", "duration_s": 60}
    assert shared_sidecar.post("/api/alerts/silences", json=silence).status_code == 201


# ---- content types ------------------------------------------------------------------------------


def test_content_types_carry_one_charset(shared_sidecar):
    job = new_job(shared_sidecar)
    assert shared_sidecar.get("/metrics").headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    openmetrics = loopback.get(shared_sidecar.url + "/metrics", headers={"accept": "application/openmetrics-text"})
    assert openmetrics.headers["content-type"] == "application/openmetrics-text; version=1.0.0; charset=utf-8"
    text = shared_sidecar.get(f"/api/jobs/{job.job_id}/logs/download", format="text")
    assert text.headers["content-type"] == "text/plain; charset=utf-8"


# ---- what storage cannot hold -------------------------------------------------------------------


def test_times_outside_what_storage_holds_are_filter_bounds_not_errors(shared_sidecar):
    job = new_job(shared_sidecar, name="ancient-bounds")
    listed = shared_sidecar.get(
        "/api/jobs",
        started_after="0001-01-01T00:00:00Z",
        started_before="9999-12-31T00:00:00Z",
        name="ancient-bounds",
        limit=500,
    )
    assert listed.status_code == 200 and job.job_id in [item["id"] for item in listed.json()["items"]]
    assert shared_sidecar.get("/api/jobs", ended_after="9999-01-01T00:00:00Z").json()["items"] == []
    logs = shared_sidecar.get(f"/api/jobs/{job.job_id}/logs", since="0001-01-01T00:00:00Z", until="9999-01-01T00:00:00")
    assert logs.status_code == 200
    assert shared_sidecar.get("/api/alerts", fired_after="0001-01-01T00:00:00Z").status_code == 200
    assert (
        shared_sidecar.get("/api/analytics", since="0001-01-01T00:00:00Z", until="9999-01-01T00:00:00Z").status_code
        == 200
    )
    early = shared_sidecar.get("/api/analytics", until="0486-07-26T21:54:50Z")
    assert early.status_code == 400 and "since" in early.json()["detail"]
    assert (
        shared_sidecar.get(
            "/api/analytics/steps", name="x", since="0291-06-02T01:21:34Z", until="1969-12-25T00:00:00Z"
        ).status_code
        == 200
    )


def test_numbers_past_64_bits_are_a_4xx_naming_them(shared_sidecar):
    job = new_job(shared_sidecar)
    huge = str(2**64)
    for path, params in [
        (f"/api/jobs/{job.job_id}/logs", {"cursor": huge}),
        (f"/api/jobs/{job.job_id}/logs", {"cursor": "²"}),
        (f"/api/jobs/{job.job_id}/commands", {"after": huge}),
    ]:
        response = shared_sidecar.get(path, **params)
        assert response.status_code == 400 and next(iter(params)) in json.dumps(response.json()), (path, params)
    for forged in (["-started_at", 2**63, "x"], ["name", ["not", "a", "name"], "x"], ["-duration", "1", "x"]):
        cursor = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode().rstrip("=")
        sort = forged[0]
        response = shared_sidecar.get("/api/jobs", sort=sort, cursor=cursor)
        assert response.status_code == 400 and "cursor" in response.json()["detail"], forged
    poll = shared_sidecar.post("/api/control/poll", json={"job_ids": [job.job_id], "after": 2**64})
    assert poll.status_code in (400, 422) and "after" in json.dumps(poll.json())
    assert loopback.delete(f"{shared_sidecar.url}/api/alerts/silences/{huge}").status_code == 400


def test_a_silence_ending_past_what_storage_holds_is_a_422_naming_the_field(shared_sidecar):
    for body, field in [
        ({"rule": "job_failed", "until": "9999-01-01T00:00:00Z"}, "until"),
        ({"rule": "job_failed", "duration_s": 1e300}, "duration_s"),
    ]:
        response = shared_sidecar.post("/api/alerts/silences", json=body)
        assert response.status_code == 422 and field in json.dumps(response.json()), body


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/control/poll", '{"job_ids": ["a"], "after": ' + "[" * DEEP + "]" * DEEP + "}"),
        ("/api/alerts/silences", '{"rule": ' + "[" * DEEP + "]" * DEEP + "}"),
        ("/api/jobs/any/pause", '{"reason": ' + '{"a":' * DEEP + "1" + "}" * DEEP + "}"),
    ],
)
def test_a_json_body_nested_too_deeply_is_a_400(shared_sidecar, path, body):
    response = shared_sidecar.post(path, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400 and "nested too deeply" in response.json()["detail"]


# ---- job-supplied text where the sidecar shows it -----------------------------------------------


def test_control_characters_in_job_names_and_ids_are_escaped_where_shown_and_kept_where_stored(shared_sidecar):
    job = JobEmitter(f"esc-{uuid.uuid4().hex[:8]}\x1b[31m")
    name = "evil\x00name\x1b[2J"
    post_logs(shared_sidecar.url, [job.start(name=name)])

    detail = shared_sidecar.get(f"/api/jobs/{quote(job.job_id, safe='')}").json()
    assert (detail["id"], detail["name"]) == (job.job_id, name), "stored and served as sent"

    metrics = shared_sidecar.get("/metrics").text
    assert "\x00" not in metrics and "\x1b" not in metrics
    assert 'job_name="evil\\\\x00name\\\\x1b[2J"' in metrics
    assert f'job_id="{job.job_id[:12]}\\\\x1b[31m"' in metrics

    cli = subprocess.run(
        [sys.executable, "-m", "jobpulse.sidecar", "jobs", "pause", job.job_id, "--url", shared_sidecar.url],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert cli.returncode == 0 and f"{job.job_id[:12]}\\x1b[31m" in cli.stdout and "\x1b" not in cli.stdout
    refused = subprocess.run(
        [sys.executable, "-m", "jobpulse.sidecar", "jobs", "pause", job.job_id, "--url", shared_sidecar.url],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert refused.returncode == 1 and "\\x1b[31m" in refused.stderr and "\x1b[31m" not in refused.stderr

    escaped_id = f"{job.job_id[:12]}\\x1b[31m"
    wait_for(lambda: f"requested pause of job {escaped_id}" in shared_sidecar.log())
    assert "\x1b" not in shared_sidecar.log() and "\x00" not in shared_sidecar.log()
