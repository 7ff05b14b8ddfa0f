"""Jobs over HTTP (a real sidecar): log pages and downloads, search validation, analytics."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.support.otlp_build import JobEmitter, post_logs


@pytest.fixture(scope="module")
def chatty_job(shared_sidecar):
    job = JobEmitter(uuid.uuid4().hex)
    records = [job.start(name=f"chatty-{job.job_id[:6]}", job_type="api_upload")]
    records += [job.log(f"line {n}", level="warning" if n % 3 == 0 else "info") for n in range(30)]
    records += [job.end(processed=30)]
    post_logs(shared_sidecar.url, records)
    return job


def test_logs_page_by_cursor_and_filter(shared_sidecar, chatty_job):
    path = f"/api/jobs/{chatty_job.job_id}/logs"
    first = shared_sidecar.get(path, limit=20).json()
    assert (len(first["items"]), first["total"]) == (20, 30) and first["next_cursor"]
    rest = shared_sidecar.get(path, limit=20, cursor=first["next_cursor"]).json()
    assert [item["message"] for item in first["items"] + rest["items"]] == [f"line {n}" for n in range(30)]
    assert rest["next_cursor"] is None
    warnings = shared_sidecar.get(path, level="warning", q="LINE 2").json()
    assert [item["message"] for item in warnings["items"]] == ["line 21", "line 24", "line 27"]
    bad = shared_sidecar.get(path, cursor="yesterday")
    assert bad.status_code == 400 and "cursor" in bad.json()["detail"]


@pytest.mark.parametrize(("fmt", "media"), [("ndjson", "application/x-ndjson"), ("text", "text/plain")])
def test_logs_download(shared_sidecar, chatty_job, fmt, media):
    response = shared_sidecar.get(f"/api/jobs/{chatty_job.job_id}/logs/download", format=fmt)
    assert response.status_code == 200 and response.headers["content-type"].startswith(media)
    assert chatty_job.job_id in response.headers["content-disposition"]
    lines = response.text.splitlines()
    assert len(lines) == 30
    if fmt == "ndjson":
        assert json.loads(lines[0])["message"] == "line 0"
    else:
        assert lines[3].split()[1:] == ["WARNING", "line", "3"]
    assert shared_sidecar.get("/api/jobs/nope/logs/download").status_code == 404


def test_list_validation_errors_name_the_parameter(shared_sidecar, chatty_job):
    for params, words in [
        ({"sort": "colour"}, "sort"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"min_duration_s": -1}, "min_duration_s"),
        ({"started_after": "last tuesday"}, "started_after"),
    ]:
        response = shared_sidecar.get("/api/jobs", **params)
        assert response.status_code == 400, params
        assert words in json.dumps(response.json())
    found = shared_sidecar.get("/api/jobs", q=chatty_job.job_id[:6], sort="name").json()
    assert [item["id"] for item in found["items"]] == [chatty_job.job_id]


def test_analytics_endpoints(shared_sidecar, chatty_job):
    result = shared_sidecar.get("/api/analytics", group_by="job_type", bucket="hour").json()
    upload = next(group for group in result["groups"] if group["key"] == "api_upload")
    assert upload["runs"] >= 1 and upload["completed"] >= 1 and upload["trend"]
    bad = shared_sidecar.get("/api/analytics", since="2030-01-01T00:00:00Z", until="2029-01-01T00:00:00Z")
    assert bad.status_code == 400 and "since" in bad.json()["detail"]
    assert shared_sidecar.get("/api/analytics/steps").status_code == 400
    steps = shared_sidecar.get("/api/analytics/steps", name="no-such-job").json()
    assert steps == {**steps, "job_name": "no-such-job", "steps": []}
